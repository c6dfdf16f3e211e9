"""Options shared by the commands, each declared once, turned into the library's values before a command runs.

Input layers become :class:`gridmap.LayerSpec` values; rules, fields, liaison, CRSs and how the work
runs become one :class:`gridmap.Options`. A command receives those values, never the raw flags.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

import click

from geodata.schema import INPUT_FIELDS
from gridmap.options import Options
from partition.values import DEFAULT_BAND

F = Callable[..., Any]

_DEFAULT = DEFAULT_BAND


def compose(*decorators: F) -> Callable[[F], F]:
    """Apply `decorators` as if stacked in this order above a function."""

    def wrap(func: F) -> F:
        for dec in reversed(decorators):
            func = dec(func)
        return func

    return wrap


def _transform(func: F, change: Callable[[dict[str, Any]], None]) -> F:
    """Return `func` called with its keyword arguments changed in place by `change` first."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kw: Any) -> Any:
        change(kw)
        return func(*args, **kw)

    return wrapper


def spec(path: str | None, layer: str | None, sql: str | None = None, *, option: str = "input") -> Any:
    """Return a file path, or a PostGIS URL with a layer (SCHEMA.TABLE) or a query, as a LayerSpec."""
    from geodata.postgis import DbSource, is_db_url
    from gridmap.inputs import LayerSpec

    if path is None:
        return None
    if is_db_url(path):
        if (layer is None) == (sql is None):
            raise click.UsageError(
                f'{option} is a database: give {option}-layer SCHEMA.TABLE or {option}-sql "SELECT …" (one of them).'
            )
        return LayerSpec(DbSource(path, layer, sql), layer)
    if sql is not None:
        raise click.UsageError(f"{option}-sql needs {option} postgresql://USER@HOST:PORT/DB.")
    if not Path(path).is_file():
        raise click.BadParameter(
            f"file '{path}' does not exist (or pass a postgresql:// URL).", param_hint=f"'{option}'"
        )
    return LayerSpec(Path(path), layer)


def input_option(
    role: str, help: str, *, required: bool = False, multiple: bool = False, sheet: bool = False, db: bool = True
) -> Callable[[F], F]:
    """Add the options of one input layer; the command receives it as a LayerSpec (a list when `multiple`).

    ``--ROLE FILE|URL``, ``--ROLE-layer NAME``, ``--ROLE-sql SELECT`` (with `db`), ``--ROLE-crs CRS``
    (collected into ``Options.layer_crs``) and ``--ROLE-sheet`` (with `sheet`: ``Options.sheet``).
    """
    every = "every " if multiple else ""
    where = f" A file, or postgresql://USER@HOST:PORT/DB with --{role}-layer or --{role}-sql." if db else ""
    options = [
        click.option(
            f"--{role}", required=required, multiple=multiple, metavar="FILE|URL" if db else "FILE", help=help + where
        ),
        click.option(
            f"--{role}-layer",
            help=f"Layer of {every}--{role} in a multi-layer file{' (SCHEMA.TABLE for a URL)' if db else ''}.",
        ),
        click.option(
            f"--{role}-crs",
            metavar="CRS",
            help=f"CRS of {every}--{role} whatever the file says, e.g. EPSG:4490 when its .prj is wrong [the "
            "file's; else --input-crs].",
        ),
    ]
    if db:
        options.append(
            click.option(
                f"--{role}-sql", metavar="SELECT", help=f"Query giving --{role} when it is a postgresql:// URL."
            )
        )
    if sheet:
        options.append(
            click.option(f"--{role}-sheet", metavar="NAME", help=f"Sheet of an .xlsx/.xls --{role} [the first].")
        )

    def change(kw: dict[str, Any]) -> None:
        from geodata.postgis import is_db_url

        layer, sql = kw.pop(f"{role}_layer"), kw.pop(f"{role}_sql", None)
        crs = kw.pop(f"{role}_crs")
        value = kw.pop(role)
        if not db and any(is_db_url(v) for v in (value if multiple else [value]) if v):
            raise click.BadParameter("takes a file here, not a database URL.", param_hint=f"'--{role}'")
        if multiple:
            kw[role] = [spec(v, layer, sql, option=f"--{role}") for v in value]
        else:
            kw[role] = spec(value, layer, sql, option=f"--{role}")
        if crs:
            kw.setdefault("layer_crs", {})[role] = crs
        if sheet and (name := kw.pop(f"{role}_sheet")):
            kw["sheet"] = name

    def decorate(func: F) -> F:
        return compose(*options)(_transform(func, change))

    return decorate


def previous_option(func: F) -> F:
    """``--previous FILE|URL`` (with ``-layer``/``-sql``): the grids of an earlier run, or a published database."""
    from geodata.postgis import is_db_url

    def change(kw: dict[str, Any]) -> None:
        path, layer, sql = kw.pop("previous"), kw.pop("previous_layer"), kw.pop("previous_sql")
        if path is not None and is_db_url(path) and layer is None and sql is None:
            layer = "gridmap.grids_current"
        kw["previous"] = spec(path, layer, sql, option="--previous")

    return compose(
        click.option(
            "--previous",
            metavar="FILE|URL",
            help="Grids of an earlier run, or a database where runs were published (its grids_current and code "
            "ledger): codes are inherited.",
        ),
        click.option("--previous-layer", help="Layer of --previous [grids; gridmap.grids_current for a URL]."),
        click.option(
            "--previous-sql", metavar="SELECT", help="Query giving --previous when it is a postgresql:// URL."
        ),
    )(_transform(func, change))


def field_options(func: F) -> F:
    """``--<field>-col NAME`` for every remappable input field (collected into ``Options.fields``)."""

    def change(kw: dict[str, Any]) -> None:
        given = {name: kw.pop(f"{name}_col") for name in INPUT_FIELDS}
        kw["fields"] = {name: col for name, col in given.items() if col}

    func = _transform(func, change)
    for name, helptext in reversed(INPUT_FIELDS.items()):
        func = click.option(f"--{name.replace('_', '-')}-col", f"{name}_col", metavar="NAME", help=helptext)(func)
    return func


def rules_options(func: F) -> F:
    """``--rules FILE``, ``--min-households``, ``--max-households``, ``--limit``, ``--balance``: the rule set."""
    from gridmap.config import parse_balance, read_rules
    from partition.values import Limit

    def change(kw: dict[str, Any]) -> None:
        rules = read_rules(
            kw.pop("rules_path"), min_households=kw.pop("min_households"), max_households=kw.pop("max_households")
        )
        limits, balance = kw.pop("limit"), kw.pop("balance")
        if limits or balance:
            rules = rules.with_measures(
                limits=[Limit.parse(t) for t in limits], balance=[parse_balance(t) for t in balance]
            )
        kw["rules"] = rules

    return compose(
        click.option("--rules", "rules_path", type=click.Path(exists=True, dir_okay=False), help="TOML rules file."),
        click.option(
            "--min-households", type=int, help=f"Lower end of the household band [{_DEFAULT.min_households}]."
        ),
        click.option(
            "--max-households", type=int, help=f"Upper end of the household band [{_DEFAULT.max_households}]."
        ),
        click.option(
            "--limit",
            multiple=True,
            metavar="NAME=MAX",
            help="Keep a measure (a numeric column of the addresses or units, summed per grid; 'units' counts "
            "them) within a limit per grid where the households allow, flag with the proof where not: "
            "minors=300, population=500-1500 (MIN-MAX), population=500- (MIN). Repeatable; every rule.",
        ),
        click.option(
            "--balance",
            multiple=True,
            metavar="NAME[=WEIGHT]",
            help="Make a measure as even as possible across a village's grids (after the limits), weight 1 "
            "unless given. Repeatable; every rule.",
        ),
    )(_transform(func, change))


def liaison_option(default: str | None = None) -> Callable[[F], F]:
    """``--liaison MIN-MAX``: household-liaison groups (联户) of that size (``liaison``)."""
    from gridmap.config import parse_range

    def change(kw: dict[str, Any]) -> None:
        text = kw.pop("liaison")
        kw["liaison"] = parse_range(text, option="--liaison") if text else None

    option = click.option(
        "--liaison",
        default=default,
        show_default=default is not None,
        metavar="MIN-MAX",
        help="Also make household-liaison groups (联户), e.g. 10-15."
        if default is None
        else "Household-liaison group size (联户).",
    )
    return lambda func: option(_transform(func, change))


input_crs_option = click.option(
    "--input-crs",
    metavar="CRS",
    help="CRS of the inputs that do not declare one (CSV, Excel, SHP without .prj): EPSG code, or gcj02 / bd09. "
    "Files that declare a CRS keep it; use --<input>-crs to override one file.",
)
csv_options = compose(
    click.option("--x-col", help="CSV longitude/x column [lon, lng, longitude, x, 经度]."),
    click.option("--y-col", help="CSV latitude/y column [lat, latitude, y, 纬度]."),
    click.option("--encoding", help="Text encoding of CSV/Shapefile attributes [auto: UTF-8, then GBK]."),
)
grid_options = compose(
    click.option(
        "--dedupe", is_flag=True, help="Drop address rows that repeat an earlier row exactly (always reported)."
    ),
    click.option(
        "--strict", is_flag=True, help="Refuse addresses outside every boundary or in a hole [kept and reported]."
    ),
    click.option(
        "--keep-valid",
        is_flag=True,
        help="With --previous: keep grids that still follow the rules exactly; regrid only the rest.",
    ),
    click.option(
        "--keep-tolerance",
        type=float,
        default=Options().keep_tolerance,
        show_default=True,
        help="Largest change of a kept grid's households (share).",
    ),
    click.option(
        "--output-crs", help="CRS of the outputs (gcj02/bd09 allowed) [input CRS; WGS 84 for gcj02/bd09 inputs]."
    ),
    click.option("--work-crs", help="Metric CRS for geometry work [UTM zone of the data]."),
)
"""What changes the grids besides rules and fields: dedupe, strict, keep-valid, output and work CRS."""


def grid_run_options(func: F) -> F:
    """Everything that decides the grids of a run: previous grids, rules, liaison, grid options, CRSs, fields."""
    stack = (previous_option, rules_options, liaison_option(), grid_options, input_crs_option, field_options)
    return compose(*stack)(func)


out_dir_option = click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to create.")
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace an existing output that gridmap made.")
run_options = compose(
    click.option("--name", help="Run name [the --out folder name]."),
    click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder to create."),
    overwrite_option,
    click.option(
        "--workers",
        type=int,
        help="Worker processes for the per-village work; with 2+, a big run's grids.gpkg is written aside [all cores].",
    ),
    click.option(
        "--scheduler",
        metavar="ADDRESS",
        help="Run on Dask: 'local' or a scheduler address such as tls://10.0.0.5:8786 (TLS certificates: README).",
    ),
)
"""Where a run goes and what runs it: --name, --out, --overwrite, --workers, --scheduler."""
run_dir_argument = click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
workers_option = compose(
    click.option(
        "--workers",
        "workers_csv",
        type=click.Path(exists=True, dir_okay=False),
        help="CSV/XLSX of grid_code → worker, for worker loads.",
    ),
    click.option("--workers-sheet", metavar="NAME", help="Sheet of an .xlsx/.xls --workers [the first]."),
)

_OPTION_FIELDS = tuple(f.name for f in dataclass_fields(Options))


def options_object(func: F) -> F:
    """Build one :class:`gridmap.Options` from every option flag the command has; pass it as ``options``.

    Put it right above the command function, below the option decorators: it runs after them. The
    run's name defaults to its folder's name and workers to all cores.
    """
    from gridmap.execute import default_workers

    def change(kw: dict[str, Any]) -> None:
        values = {name: kw.pop(name) for name in _OPTION_FIELDS if name in kw}
        if "workers" in values and values["workers"] is None:
            values["workers"] = default_workers()
        if "name" in values and values["name"] is None:
            values["name"] = Path(kw["out"]).name if kw.get("out") else "run"
        values = {k: v for k, v in values.items() if v is not None}
        kw["options"] = Options(**values)

    return _transform(func, change)
