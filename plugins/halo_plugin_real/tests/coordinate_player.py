"""A HALO plugin that plays the mouse and keyboard actions, then answers (the bridge's action check)."""

from halo_core import Decision, hookimpl

SCRIPT = ("mouse_move(200, 150)", "mouse_click(5, 5)", "mouse_dblclick(6, 6)", "mouse_down(7, 7)", "mouse_up(8, 8)",
          "mouse_drag_and_drop(10, 10, 40, 40)", "keyboard_press('Tab')", "keyboard_down('Shift')",
          "keyboard_up('Shift')", "keyboard_type('ab')", "keyboard_insert_text('c')")


class CoordinatePlayer:
    @hookimpl(tryfirst=True)
    def halo_decide(self, observation, episode):
        i = len(episode.history)
        return Decision(SCRIPT[i] if i < len(SCRIPT) else "send_msg_to_user('Done')", "worker")


player = CoordinatePlayer()
