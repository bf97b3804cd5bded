// Start one MiniWoB episode the way the miniwob package's own driver does
// (selenium_instance.begin_task): seed Math.random, set the data mode, then
// core.startEpisodeReal(), which generates the problem and hides the START cover
// without a click. The episode time limit is raised before the timer starts.
(arg) => {
  Math.seedrandom(arg.seed);
  core.setDataMode(arg.mode);
  core.EPISODE_MAX_TIME = arg.maxTimeMs;
  core.startEpisodeReal();
  // the reward/timer display is for human players; the agent should not read it as the task
  const hud = document.getElementById("reward-display");
  if (hud) hud.style.display = "none";
  const canvas = document.getElementById("click-canvas");
  if (canvas) canvas.style.display = "none";
  return true;
}
