"""A HALO plugin that answers at once, leaving the site untouched (the do-nothing run)."""

from halo_core import Decision, hookimpl


class Quitter:
    @hookimpl(tryfirst=True)
    def halo_decide(self, observation, episode):
        return Decision("send_msg_to_user('Done')", "worker")


quitter = Quitter()
