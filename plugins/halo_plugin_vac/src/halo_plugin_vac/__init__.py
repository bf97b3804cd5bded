"""HALO plugin: the Verified Action Cache.

A map from (scope, state fingerprint) to an action in bid-free form, replayed only
after an episode that used it succeeded, evicted when it keeps failing. See README.md.
"""

from halo_plugin_vac._forms import ActionForm, action_form
from halo_plugin_vac._store import Candidate, Entry, Outcome, VacStore, open_store

__all__ = ["ActionForm", "Candidate", "Entry", "Outcome", "VacStore", "action_form", "open_store"]
