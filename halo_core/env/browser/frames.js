// Resolves after two animation frames: a scroll has been painted.
() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))