"""The ``halo`` command line: a group that plugins fill through ``halo_register_commands``.

The core's own commands (``plugins``, ``tasks``, ``run``, ``eval``, ``config``, …) are
plugins too (modules in :data:`halo_core.plugins.DEFAULT_PLUGINS`), so a third party
adds or disables commands exactly as the core does; a command name has one owner (to
replace a core command, disable its plugin, e.g. ``HALO_DISABLE_PLUGINS=cli_run``). This module holds only
what every command module shares: the consoles, :class:`HaloError`, the runtime of
the current invocation, and reading ``.env``. Library code never imports it at import time
(a command kept beside its library, ``halo export`` in :mod:`halo_core.export`, imports it
inside the command function).
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from pathlib import Path

import click
from rich.console import Console

from halo_core import __version__

__all__ = ["HaloConsole", "HaloError", "HaloGroup", "cli", "console", "err", "get_runtime", "load_dotenv", "main",
           "new_run_id", "plain"]


class HaloConsole(Console):
    """A console for text HALO does not control: model replies, page text, URLs, paths, errors.

    Emoji codes are never replaced (a reply saying ``:x:`` prints ``:x:``), and every
    string printed is redacted as files are (known secrets, URL credentials). Markup
    stays on for HALO's own styling, so untrusted pieces inside a styled line must go
    through :func:`plain`; a line that is wholly untrusted is printed with ``markup=False``.
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("emoji", False)
        kwargs.setdefault("highlight", False)
        super().__init__(**kwargs)

    def print(self, *objects, **kwargs) -> None:  # noqa: A003 - rich's name
        from halo_core.secrets import redact_console

        super().print(*(redact_console(o) if isinstance(o, str) else o for o in objects), **kwargs)


def plain(text) -> str:
    """``text`` made safe to embed in a markup line: secrets redacted, ``[...]`` printed as written."""
    from rich.markup import escape

    from halo_core.secrets import redact_console

    return escape(redact_console(str(text)))


console = HaloConsole(stderr=False, soft_wrap=True)
err = HaloConsole(stderr=True, soft_wrap=True)


class HaloError(click.ClickException):
    """A user-facing error: one line, non-zero exit."""

    def show(self, file=None) -> None:
        err.print(f"[bold red]error:[/] {plain(self.format_message())}")


def get_runtime(ctx: click.Context | None = None):
    """The runtime of this invocation (made once, shared by every subcommand)."""
    from halo_core.runtime import Runtime

    ctx = ctx or click.get_current_context(silent=True)
    if ctx is None:
        return Runtime()
    obj = ctx.find_root().ensure_object(dict)
    if "runtime" not in obj:
        obj["runtime"] = Runtime()
    return obj["runtime"]


def new_run_id(prefix: str = "run") -> str:
    return f"{prefix}_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}"


def load_dotenv(path: str | os.PathLike = ".env", environ=None) -> list[str]:
    """Set the variables of a ``.env`` file (``NAME=value`` lines) that are not set already.

    Returns the names it set. Values are never printed; a line that is not an
    assignment is skipped, so a damaged file cannot stop the command line.
    """
    environ = os.environ if environ is None else environ
    path = Path(path)
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    set_names = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if name in environ:
            continue  # the real environment wins
        environ[name] = value
        set_names.append(name)
    return set_names


class HaloGroup(click.Group):
    """Asks the plugins for their subcommands the first time the command list is needed."""

    _plugins_loaded = False
    _registering: tuple | None = None  # (plugin manager, the hook's implementations) while plugins add commands

    def _load(self, ctx: click.Context | None = None) -> None:
        if not self._plugins_loaded:
            from halo_core.registries import DuplicateNameError

            self._plugins_loaded = True
            runtime = get_runtime(ctx)
            hook = runtime.hook.halo_register_commands
            self._registering, self._owners = (runtime.pm, hook.get_hookimpls()), {}
            try:
                hook(cli=self)
            except DuplicateNameError as exc:
                raise HaloError(str(exc)) from None
            finally:
                self._registering = None

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Add a subcommand; while plugins register theirs, a name another plugin (or the
        same one) took already is refused, naming both."""
        if self._registering is not None:
            import sys

            from halo_core.registries import DuplicateNameError, calling_implementation, plugin_label

            pm, impls = self._registering
            name = name or cmd.name
            impl = calling_implementation(impls, sys._getframe(1))
            if name in self.commands:
                first = plugin_label(pm, self._owners[name]) if name in self._owners else "halo_core.cli"
                raise DuplicateNameError("command", str(name), first, plugin_label(pm, impl))
            self._owners[name] = impl
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context):
        from halo_core.registries import DuplicateNameError

        try:
            return super().invoke(ctx)
        except DuplicateNameError as exc:  # a registry built by the command refused a name
            raise HaloError(str(exc)) from None

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._load(ctx)
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx):
        self._load(ctx)
        return super().list_commands(ctx)


@click.group(cls=HaloGroup)
@click.version_option(__version__, prog_name="halo")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """HALO: a hierarchical browser agent and the toolkit around it."""
    ctx.ensure_object(dict)
    # plugins may extend core groups (e.g. `halo tasks snapshot`); click resolves a
    # group's subcommand after the parent's callback, so load them here
    ctx.command._load(ctx)


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """A user warning (a damaged line skipped, a library set aside) is one plain line naming
    the file, not Python's ``file:line: Category`` with the source line under it."""
    from halo_core.secrets import redact_console

    if issubclass(category, UserWarning):
        return f"warning: {redact_console(str(message))}\n"
    return _python_format_warning(message, category, filename, lineno, line)


_python_format_warning = warnings.formatwarning


def main() -> None:
    if not os.environ.get("HALO_NO_DOTENV"):
        load_dotenv()
    warnings.formatwarning = _format_warning
    cli(prog_name="halo")


if __name__ == "__main__":
    # `python -m halo_core.cli`: run the canonical module's group, so every command module
    # and plugin shares one HaloError, console and group
    from halo_core.cli import main as _canonical_main

    _canonical_main()
