"""HALO plugin: macro skills mined from successful trajectories, replayed with verification.

Library use::

    from halo_plugin_macros import read_traces, mine_macros, save_macros
    save_macros(mine_macros(read_traces("data/trajectories"), min_support=2), "data/cache/macros.json")
"""

from halo_plugin_macros._binding import bind, goal_variant
from halo_plugin_macros._library import Macro, MacroStep, Slot, load_macros, save_macros
from halo_plugin_macros._mining import Trace, mine_macros, read_trace, read_traces

__all__ = ["Macro", "MacroStep", "Slot", "Trace", "bind", "goal_variant", "load_macros", "mine_macros",
           "read_trace", "read_traces", "save_macros"]
