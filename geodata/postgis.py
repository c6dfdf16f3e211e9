"""Read input layers and tables from PostgreSQL/PostGIS (a table, a view or a query), with masked credentials.

A database input is a URL ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB`` plus a layer
(``schema.table`` or ``table``, views included) or a query (``SELECT …``). Credentials come from the
URL or, when the URL has no password, from libpq itself: ``PGPASSWORD``, ``~/.pgpass`` (or
``PGPASSFILE``) and service files (``postgresql:///?service=NAME``). Passwords are never shown:
every URL in a message goes through :func:`mask_url`, and driver messages are scrubbed too.

Rows are read with pandas/SQLAlchemy and the geometry decoded by shapely in one vectorised call
(``shapely.from_wkb``; geopandas' ``read_postgis`` decodes row by row); the CRS is the
SRID of the geometry column (``geometry_columns``) or, for queries, of the geometries themselves.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd
import shapely

from geodata.crs import flatten
from geodata.errors import InputError, Problem, require

if TYPE_CHECKING:
    import sqlalchemy

SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
_IDENT = re.compile(r"^(?:(?P<schema>[^.\"]+|\"[^\"]+\")\.)?(?P<table>[^.\"]+|\"[^\"]+\")$")


@dataclass(frozen=True)
class DbSource:
    """A database input: URL plus layer or query. Its text form is the masked label, never the password.

    It stands where a file path stands (``LayerSpec.path``): ``str()`` and ``os.fspath()`` give the
    masked label, ``suffix`` is empty and ``name`` is the layer (or ``query``), so code that names
    inputs in messages and manifests cannot leak the password.
    """

    url: str
    layer: str | None = None
    sql: str | None = None

    def __str__(self) -> str:
        return label(self.url, layer=self.layer, sql=self.sql)

    def __repr__(self) -> str:
        return f"DbSource({str(self)!r})"

    def __fspath__(self) -> str:
        return str(self)

    @property
    def suffix(self) -> str:
        """Return no file suffix (a database source is not a file)."""
        return ""

    @property
    def name(self) -> str:
        """Return the layer name, or ``query`` for a SQL source."""
        return self.layer or "query"

    @property
    def schema(self) -> str:
        """Schema of the layer (``public`` when not given or for a query)."""
        return _split_layer(self.layer, self.url)[0] if self.layer else "public"

    def read(self) -> gpd.GeoDataFrame:
        """Read the layer or query (:func:`read_db_layer`)."""
        return read_db_layer(self.url, layer=self.layer, sql=self.sql)


def is_db_url(value: str | os.PathLike | None) -> bool:
    """Say whether an input value is a PostgreSQL URL rather than a file path."""
    return isinstance(value, str) and value.strip().lower().startswith(SCHEMES)


ENCODE_HINT = "percent-encode it in the URL (@ as %40, / as %2F, : as %3A, # as %23, ? as %3F, % as %25, space as %20)"


def parse_url(url: str) -> sqlalchemy.URL:
    """Parse a PostgreSQL URL with SQLAlchemy's own parser (the one that connects), refusing ambiguous ones.

    Raises
    ------
    InputError
        When the URL is malformed, or an unencoded ``@`` in the user or password makes the host
        ambiguous (the message shows the URL masked and says how to encode the password).
    """
    import sqlalchemy as sa

    try:
        u = sa.make_url(str(url).strip())
        _ = u.port  # parses the port
    except (sa.exc.ArgumentError, ValueError) as exc:  # the parser's message may quote a piece of the password
        msg = (
            "is not a valid PostgreSQL URL: its port is not a number, or its user or password holds a character "
            "that must be encoded."
        )
        fix = (
            f"write postgresql://USER@HOST:PORT/DATABASE; if the password holds @ / : # ? % or a space, {ENCODE_HINT}."
        )
        raise InputError(Problem(mask_url(url), msg, fix)) from exc
    if _ambiguous(u, str(url)):
        raise InputError(
            Problem(
                mask_url(url),
                "has more than one '@' before the host, so user, password and host cannot be told apart.",
                f"if the password holds '@', {ENCODE_HINT}; or leave it out and use PGPASSWORD or ~/.pgpass.",
            )
        )
    if u.host and not _host_ok(u.host):  # after the '@' check: the host now holds no piece of the password
        raise InputError(
            Problem(mask_url(url), f"has '{u.host}' as its host, which is not a host name.", "check the host part.")
        )
    return u


def _ambiguous(u: sqlalchemy.URL, text: str) -> bool:
    """Whether an unencoded '@' in the user or password leaves a piece of it as the parsed host.

    The host then holds an '@', or is no host name while another '@' follows (the rest of the
    password pushed past it, into the query after a '?').
    """
    host = u.host or ""
    return bool(host) and ("@" in host or (not _host_ok(host) and text.count("@") > 1))


def _host_ok(host: str) -> bool:
    """Whether `host` can be looked up (a name or address; the driver fails with a bare UnicodeError otherwise)."""
    if not host.isprintable():
        return False
    try:
        host.encode("idna")
    except UnicodeError:
        return False
    return True


def mask_url(url: str) -> str:
    """Return `url` with its password replaced by ``***`` (safe for logs, manifests and errors).

    The URL is read with SQLAlchemy's parser, so a password holding ``/ @ : # % ?`` or spaces is
    masked whole. A URL it cannot read shows nothing between ``://`` and its last ``@``.
    """
    import sqlalchemy as sa

    text = str(url).strip()
    try:
        u = sa.make_url(text)
        if not _ambiguous(u, text):  # otherwise user and password are unclear: masked below
            return re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", u.render_as_string(hide_password=True))
    except (sa.exc.ArgumentError, ValueError, TypeError):
        pass  # unreadable: masked below
    scheme, sep, rest = text.partition("://")
    if not sep:
        return "***" if "@" in text or "password" in text.lower() else text
    _, at, tail = rest.rpartition("@")
    masked = f"{scheme}://***@{tail}" if at else f"{scheme}://{rest}"
    return re.sub(r"(?i)(password=)[^&#]*", r"\1***", masked)


def _password(url: str) -> str | None:
    """Return the password a URL carries (in its user part or its query), as the driver would get it."""
    import sqlalchemy as sa

    try:
        u = sa.make_url(str(url).strip())
    except (sa.exc.ArgumentError, ValueError):
        m = re.search(r"://[^@]*?:(.*)@", str(url))  # unreadable URL: everything after the user's ':'
        return m.group(1) if m and m.group(1) else None
    pw = u.password or u.query.get("password")
    return str(pw[0] if isinstance(pw, tuple) else pw) if pw else None


def _scrub(text: str, url: str) -> str:
    """Remove the URL's password from a driver message, whatever form it took."""
    pw = _password(url)
    text = str(text).strip()
    if pw:
        from urllib.parse import quote, quote_plus, unquote

        for form in sorted({pw, unquote(pw), quote(pw, safe=""), quote_plus(pw)}, key=len, reverse=True):
            text = text.replace(form, "***")
    return text


def label(url: str, *, layer: str | None = None, sql: str | None = None) -> str:
    """How a database input is named in messages and manifests: masked URL and layer or query."""
    where = f"layer {layer}" if layer else f"query {_short(sql)}" if sql else ""
    return f"{mask_url(url)}{', ' + where if where else ''}"


def _short(sql: str | None, n: int = 60) -> str:
    one = " ".join((sql or "").split())
    return f"'{one[:n]}…'" if len(one) > n else f"'{one}'"


def connect(url: str) -> sqlalchemy.Engine:
    """Make a SQLAlchemy engine (psycopg 3) for `url`, checking the URL's form first.

    Raises
    ------
    InputError
        When the URL is not a PostgreSQL URL or is malformed (e.g. a port that is not a number, or
        an unencoded ``@`` in the password).
    """
    require("psycopg", extra="postgis", purpose="Reading or publishing to PostgreSQL")
    sa = require("sqlalchemy", extra="postgis", purpose="Reading or publishing to PostgreSQL")
    from sqlalchemy.pool import NullPool

    if not is_db_url(url):
        raise InputError(
            Problem(mask_url(url), "is not a PostgreSQL URL.", "write postgresql://USER@HOST:PORT/DATABASE.")
        )
    u = parse_url(url).set(drivername="postgresql+psycopg")
    query = dict(u.query)
    query.setdefault("connect_timeout", "10")
    query.setdefault("application_name", "gridmap")
    return sa.create_engine(u.set(query=query), poolclass=NullPool)


def db_error(exc: BaseException, url: str, *, what: str, fix: str = "check the layer name or the query.") -> InputError:
    """Turn a driver/SQLAlchemy error into one clear :class:`InputError` without secrets.

    `fix` is used when no better one is known.
    """
    orig = getattr(exc, "orig", None) or exc
    text = _scrub(str(orig).splitlines()[0] if str(orig) else type(orig).__name__, url)
    low = text.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        fix = "check the user and password (in the URL, PGPASSWORD, ~/.pgpass or the service file)."
    elif "does not exist" in low and "database" in low:
        fix = "check the database name at the end of the URL."
    elif (
        "connection refused" in low
        or "could not translate host" in low
        or "timeout" in low
        or "connection failed" in low
    ):
        fix = "check host and port, and that PostgreSQL is running and accepts connections."
    elif 'type "geometry" does not exist' in low or "function st_" in low:
        fix = "install PostGIS in that database: CREATE EXTENSION postgis;"
    elif "permission denied" in low:
        fix = (
            "ask the database owner for the rights needed (e.g. GRANT SELECT, or GRANT CREATE ON DATABASE to publish)."
        )
    return InputError(Problem(mask_url(url), f"{what}: {text}", fix))


def _split_layer(layer: str, url: str) -> tuple[str, str]:
    m = _IDENT.match(layer.strip())
    if not m:
        raise InputError(Problem(mask_url(url), f"'{layer}' is not a table name.", "write SCHEMA.TABLE or TABLE."))
    schema = (m.group("schema") or "public").strip('"')
    return schema, m.group("table").strip('"')


def _geometry_columns(conn: sqlalchemy.Connection, schema: str, table: str) -> list[tuple[str, int, str]]:
    import sqlalchemy as sa

    rows = conn.execute(
        sa.text(
            "SELECT f_geometry_column, srid, type FROM geometry_columns "
            "WHERE f_table_schema = :s AND f_table_name = :t ORDER BY f_geometry_column"
        ),
        {"s": schema, "t": table},
    ).all()
    return [(r[0], int(r[1]), str(r[2])) for r in rows]


def _relation_exists(conn: sqlalchemy.Connection, schema: str, table: str) -> bool:
    import sqlalchemy as sa

    q = "SELECT to_regclass(format('%I.%I', CAST(:s AS text), CAST(:t AS text))) IS NOT NULL"
    return bool(conn.execute(sa.text(q), {"s": schema, "t": table}).scalar())


def _geometry_layers(conn: sqlalchemy.Connection) -> list[str]:
    import sqlalchemy as sa

    rows = conn.execute(sa.text("SELECT f_table_schema || '.' || f_table_name FROM geometry_columns ORDER BY 1")).all()
    return [r[0] for r in rows]


def _query_of(
    conn: sqlalchemy.Connection, url: str, *, layer: str | None, sql: str | None
) -> tuple[str, str | None, int | None]:
    """Return the SELECT to run, its geometry column (None: find it) and the declared SRID (None: from data)."""
    import sqlalchemy as sa

    if (layer is None) == (sql is None):
        raise InputError(
            Problem(mask_url(url), "needs a layer or a query.", 'pass --X-layer SCHEMA.TABLE or --X-sql "SELECT …".')
        )
    if not conn.execute(sa.text("SELECT to_regclass('geometry_columns') IS NOT NULL")).scalar():
        raise InputError(
            Problem(
                label(url, layer=layer, sql=sql),
                "the database has no PostGIS.",
                "read from a database with PostGIS, or run CREATE EXTENSION postgis; in it.",
            )
        )
    if sql is not None:
        body = sql.strip().rstrip(";").strip()
        if not re.match(r"(?is)^\s*(select|with|table|values)\b", body):
            raise InputError(Problem(label(url, sql=sql), "is not a query.", "pass a SELECT statement."))
        return body, None, None
    schema, table = _split_layer(layer or "", url)
    if not _relation_exists(conn, schema, table):
        known = _geometry_layers(conn)
        shown = ", ".join(known[:15]) + (" …" if len(known) > 15 else "") if known else "none"
        raise InputError(
            Problem(
                label(url, layer=layer),
                f"there is no table or view {schema}.{table}.",
                f"check the name (layers with geometry in this database: {shown}).",
            )
        )
    cols = _geometry_columns(conn, schema, table)
    if not cols:
        raise InputError(
            Problem(
                label(url, layer=layer),
                "has no geometry column.",
                "pass a PostGIS table or view with a geometry column, or a query that selects one.",
            )
        )
    q = conn.dialect.identifier_preparer
    return f"SELECT * FROM {q.quote(schema)}.{q.quote(table)}", cols[0][0], cols[0][1] or None


def _text(query: str):
    """Return the user's SQL as a literal SQLAlchemy text clause (``:name`` is no parameter, ``%`` stays ``%``)."""
    import sqlalchemy as sa

    return sa.text(re.sub(r"(?<![:\w\\]):(\w+)(?!:)", r"\\:\1", query))


def _find_geometry_column(conn: sqlalchemy.Connection, body: str, where: str) -> str:
    import sqlalchemy as sa

    oids = set(conn.execute(sa.text("SELECT oid FROM pg_type WHERE typname IN ('geometry', 'geography')")).scalars())
    if not oids:
        raise InputError(Problem(where, "the database has no PostGIS.", "CREATE EXTENSION postgis; in that database."))
    cur = conn.execute(_text(f"SELECT * FROM ({body}) AS gridmap_q LIMIT 0"))
    desc = cur.cursor.description
    cur.close()
    geoms = [d.name for d in desc if d.type_code in oids]  # type: ignore[attr-defined]  # psycopg Column
    if not geoms:
        raise InputError(Problem(where, "the query returns no geometry column.", "select a PostGIS geometry column."))
    return geoms[0]


def read_db_layer(url: str, *, layer: str | None = None, sql: str | None = None) -> gpd.GeoDataFrame:
    """Read a table, view or query of a PostGIS database as a GeoDataFrame.

    Parameters
    ----------
    url
        ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE`` (or with ``?service=NAME``).
    layer
        ``SCHEMA.TABLE`` or ``TABLE`` (schema ``public``); views work too.
    sql
        A query returning one geometry column (the first one is used when there are several).

    Returns
    -------
    gdf
        The rows with a 0-based index in the order the database returned them; the CRS is the
        column's SRID (or the geometries' SRID for a query), None when the SRID is 0.

    Raises
    ------
    InputError
        Bad URL, failed connection or password, missing table, no geometry column, failed query, no
        rows; the message names the (masked) URL and layer/query and says what to fix.
    """
    import sqlalchemy as sa

    engine = connect(url)
    where = label(url, layer=layer, sql=sql)
    try:
        with engine.connect() as conn:
            body, geom_col, srid = _query_of(conn, url, layer=layer, sql=sql)
            if geom_col is None:
                geom_col = _find_geometry_column(conn, body, where)
            df = pd.read_sql(_text(body), conn)
            geoms = shapely.from_wkb(df[geom_col].to_numpy())  # PostGIS's (E)WKB, decoded in one vectorised call
            if srid is None:
                found = shapely.get_srid(geoms[~shapely.is_missing(geoms)][:1])
                srid = int(found[0]) if len(found) else None
            crs = _crs_of(conn, srid)
    except InputError:
        raise
    except sa.exc.SQLAlchemyError as exc:
        raise db_error(exc, url, what=f"{'layer ' + layer if layer else 'the query'} could not be read") from exc
    finally:
        engine.dispose()
    if len(df) == 0:
        raise InputError(Problem(where, "returned no rows.", "check the layer or the query's WHERE clause."))
    name = "geometry" if geom_col == "geometry" or "geometry" not in df.columns else geom_col
    gdf = gpd.GeoDataFrame(df.drop(columns=[geom_col]), geometry=gpd.GeoSeries(geoms, name=name), crs=crs)
    return flatten(gdf.reset_index(drop=True), file=where)


def _crs_of(conn: sqlalchemy.Connection, srid: int | None) -> str | None:
    """Return the CRS of a PostGIS SRID (its authority code in ``spatial_ref_sys``; None for SRID 0)."""
    import sqlalchemy as sa

    if not srid:
        return None
    row = conn.execute(sa.text("SELECT auth_name, auth_srid FROM spatial_ref_sys WHERE srid = :s"), {"s": srid}).first()
    return f"{row[0]}:{row[1]}" if row and row[0] and row[1] else f"EPSG:{srid}"


def read_db_table(url: str, *, table: str) -> pd.DataFrame | None:
    """Read an attribute table (e.g. the code ledger); None when it does not exist."""
    import sqlalchemy as sa

    engine = connect(url)
    try:
        with engine.connect() as conn:
            schema, name = _split_layer(table, url)
            if not _relation_exists(conn, schema, name):
                return None
            q = conn.dialect.identifier_preparer
            return pd.read_sql(sa.text(f"SELECT * FROM {q.quote(schema)}.{q.quote(name)}"), conn)
    except sa.exc.SQLAlchemyError as exc:
        raise db_error(exc, url, what=f"table {table} could not be read") from exc
    finally:
        engine.dispose()
