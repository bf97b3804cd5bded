// MiniWoB's end-of-episode globals (core.js: core.endEpisode sets them once).
() => ({
  ready: typeof WOB_TASK_READY === "undefined" ? true : !!WOB_TASK_READY,
  done: typeof WOB_DONE_GLOBAL !== "undefined" && !!WOB_DONE_GLOBAL,
  reward: typeof WOB_REWARD_GLOBAL === "undefined" ? 0 : Number(WOB_REWARD_GLOBAL),
  rawReward: typeof WOB_RAW_REWARD_GLOBAL === "undefined" ? 0 : Number(WOB_RAW_REWARD_GLOBAL),
  reason: typeof WOB_REWARD_REASON === "undefined" || WOB_REWARD_REASON === null ? "" : String(WOB_REWARD_REASON),
  episodes: typeof WOB_EPISODE_ID === "undefined" ? 0 : Number(WOB_EPISODE_ID),
  utterance: typeof core === "undefined" || !document.getElementById("query") ? "" : core.getUtterance(),
})
