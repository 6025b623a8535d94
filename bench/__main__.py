"""python -m bench ingest|query|price|slack [--events N] | collect|bedrock|google|run [--days N]
| detect [--series N]

`slack` and `run` take --concurrent and --rounds too."""

from __future__ import annotations

import argparse

from bench import bedrock, collect, detect, google, ingest, pricing, query, run, slack


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="suite", required=True)
    for name, module, default in (
        ("ingest", ingest, 1_000_000),
        ("query", query, 10_000_000),
        ("price", pricing, 1_000_000),
        ("collect", collect, None),
        ("bedrock", bedrock, None),
        ("google", google, None),
        ("detect", detect, None),
        ("slack", slack, 10_000_000),
        ("run", run, None),
    ):
        p = sub.add_parser(name, help=module.__doc__)
        if default is not None:
            p.add_argument("--events", type=int, default=default)
        module.add_options(p)
        p.set_defaults(run=module.run)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
