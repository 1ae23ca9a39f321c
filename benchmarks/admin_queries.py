"""The admin console's queries on a large PostgreSQL database: customer search, the
customer list, a customer's page and the overview, with the schema as migrated and with
candidate indexes, so the indexes worth adding to the schema are chosen on numbers.

A manual benchmark (not part of CI). It builds its own database, `--database` (default
credit_admin_bench, dropped first if it exists), migrates it with the repo's migrations
(`migrations.upgrade`, which also copies the plan catalog), and fills it with server-side
SQL (generate_series, no Python row loops):

- `--users` users (default 1,000,000) joining over one year: skewed first names with
  varied first letters (a few rare ones), addresses like `olivia.moreau123@example23.com`
  (some capitalised, some initials only), names (one in seven NULL), a balance, a last
  activity (NULL for those who never spent), 10% of them subscribed to a catalog plan.
- about `--entries-per-user` ledger entries each (default 50: about 50M rows), written
  in time order as the app writes them (monotonic ids and created_at over 365 days ending
  now, each user's rows scattered among everyone's), kinds grant / spend / capture /
  refund / adjust / expire on the tools' features. An ordinary user's balance_after is
  their running balance and users.credits their last one; one heavy user (the first to
  join) also has `--heavy-entries` spends (default 200,000) interleaved all year.
- credit lots, auth sessions (every second user), subscriptions and Stripe events (12 per
  subscriber, `--heavy-events` for the heavy user) with payloads of a realistic size.

While ledger_entries is filled its secondary indexes, unique and foreign keys are
dropped (and autovacuum paused); they are put back exactly as they were (the script
checks the schema is unchanged), then everything is vacuumed and analysed.

Each query runs once under EXPLAIN (ANALYZE, BUFFERS), whose plan is printed (one line a
node), then up to `--repeat` times (at least 3, fewer once `--budget-seconds` is spent):
median and p95 in ms. Candidate indexes are created in the bench database only, measured,
and dropped again. The spend trade-off of an index on users.credits / last_activity_at
(the spend's UPDATE changes both, so such an index makes every spend a non-HOT update that
also writes every other index of users) is measured with a loop of single-transaction
spends, with and without those indexes.

Figures are with a warm cache (the tables fit in this machine's RAM) and the server's
own settings; one connection, psycopg 3 with server-side parameters and no prepared
statements (custom plans; one variant shows the generic plan a prepared statement gets).

Run (the full size: about 10 minutes to fill and 15 to measure on 2 cores, 16 GB of disk):

    .venv/bin/python -m benchmarks.admin_queries
    .venv/bin/python -m benchmarks.admin_queries --users 20000 --entries-per-user 20 \\
        --heavy-entries 20000 --heavy-events 200            # a quick check, < 1 minute

`--keep` leaves the database in place afterwards (as populated: the candidate indexes are
dropped either way) and `--reuse` measures an existing one without filling it again.
`--markdown PATH` also writes the summary table as Markdown.
"""

import argparse
import hashlib
import math
import statistics
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from credit_app import migrations
from tests.conftest import PG_ADMIN_DSN

YEAR = "interval '365 days'"

# Knuth-style multiplicative hashes of a user's number: deterministic "random" fractions.
_MULTIPLIERS = (2654435761, 2246822519, 3266489917, 668265263, 374761393)

FIRST_NAMES = [
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Sophia", "Mia", "James", "Isabella", "Lucas",
    "Amelia", "Benjamin", "Harper", "Henry", "Evelyn", "Alexander", "Charlotte", "Daniel",
    "Grace", "Ethan", "Chloe", "Matteo", "Hannah", "Kai", "Nora", "Ryan", "Sara", "Tomas",
    "Uma", "Victor", "Wei", "Yara", "Zoe", "Felix", "Ines", "Jonas", "Karim", "Paula",
    "Diego", "Rosa",
]  # fmt: skip
RARE_NAMES = ["Xiomara", "Quillon", "Ulrike", "Yevgenia", "Zbigniew", "Oluwaseun", "Thandiwe"]
LAST_NAMES = [
    "Smith", "Garcia", "Moreau", "Rossi", "Kowalski", "Nguyen", "Okafor", "Tanaka", "Muller",
    "Silva", "Johansson", "Dubois", "Khan", "Novak", "Murphy", "Fischer", "Lopez", "Sato",
    "Bianchi", "Andersen",
]  # fmt: skip

# One ten-entry cycle of an ordinary user's ledger after their signup grant of 100 x s
# credits (s, 1..20, scales a user's amounts): the kinds, the deltas (per unit of s), and
# the running sum of the deltas before each position. The cycle gains 4, and no stretch of
# it loses more than 46, so every balance_after stays >= 54 x s.
CYCLE_KINDS = ["grant", "spend", "spend", "capture", "spend", "refund", "spend", "adjust",
               "spend", "expire"]  # fmt: skip
CYCLE_DELTAS = [50, -10, -10, -8, -10, 10, -10, 5, -10, -3]
CYCLE_GAIN = sum(CYCLE_DELTAS)
CYCLE_BEFORE = [sum(CYCLE_DELTAS[:i]) for i in range(10)]
TOOLS = ["qr", "qr", "qr", "keywords", "keywords", "report"]  # qr is the most used
PAID_PLANS = ["pro_monthly", "pro_monthly", "pro_yearly", "business_monthly", "business_yearly"]


def _array(values: Sequence[str | int]) -> str:
    items = ", ".join(str(v) if isinstance(v, int) else f"'{v}'" for v in values)
    return f"(ARRAY[{items}])"


def _frac(expr: str, which: int) -> str:
    """A fraction in [0, 1) hashed from the integer `expr`."""
    return f"((({expr})::bigint * {_MULTIPLIERS[which]}) % 4294967296)::float8 / 4294967296"


@dataclass(frozen=True)
class Shape:
    """How the population is laid out in time. The year is cut into `rounds`; in round r
    the first users * (r + 1) // rounds users exist, and each of them who is still active
    writes one entry (in user order, at evenly spaced times within the round). A user who
    joins in round r0 stays until round r1: the last round for half of them (and for the
    heavy user), a random earlier one for the rest. The average user then writes
    3/8 x rounds entries, so rounds = 8/3 x entries per user."""

    users: int
    rounds: int
    heavy_entries: int

    def active(self, r: int) -> int:
        return self.users * (r + 1) // self.rounds

    def heavy_in_round(self, r: int) -> int:
        return self.heavy_entries * (r + 1) // self.rounds - self.heavy_entries * r // self.rounds

    # SQL expressions of a user's number `u`.
    def r0(self, u: str) -> str:
        return f"((({u})::bigint + 1) * {self.rounds} + {self.users} - 1) / {self.users} - 1"

    def r1(self, u: str, r0: str) -> str:
        last = self.rounds - 1
        return (
            f"CASE WHEN ({u}) = 0 OR {_frac(u, 1)} < 0.5 THEN {last}"
            f" ELSE ({r0}) + floor({_frac(u, 2)} * ({self.rounds} - ({r0})))::int END"
        )

    @staticmethod
    def scale(u: str) -> str:
        return f"(1 + (({u})::bigint * 7919) % 20)"

    @staticmethod
    def cycle_sum(m: str) -> str:
        """Sum of the cycle's deltas over positions 0 .. m-1."""
        return f"({CYCLE_GAIN} * (({m}) / 10) + {_array(CYCLE_BEFORE)}[({m}) % 10 + 1])"

    def balance(self, u: str, n: str) -> str:
        """Balance after an ordinary user's entry number n (0: the signup grant): their
        entries 1..n sit at cycle positions u+1 .. u+n."""
        return (
            f"{self.scale(u)} * (100 + {self.cycle_sum(f'({u}) + ({n}) + 1')}"
            f" - {self.cycle_sum(f'({u}) + 1')})"
        )


USER_UUID = "md5('bench-user-' || {u})::uuid"


def _user_uuid(u: str) -> str:
    return USER_UUID.format(u=u)


def heavy_user_id() -> uuid.UUID:
    """User number 0: the first to join, and the heavy one."""
    return uuid.UUID(hashlib.md5(b"bench-user-0").hexdigest())


# --- population ----------------------------------------------------------------------------


def _ts(moment: datetime) -> str:
    return f"'{moment.isoformat()}'::timestamptz"


def _users_sql(shape: Shape, t0: datetime) -> str:
    u = "u"
    r0 = shape.r0(u)
    first = (
        f"CASE WHEN {_frac(u, 3)} < 0.002 THEN {_array(RARE_NAMES)}[(u / 7) % "
        f"{len(RARE_NAMES)} + 1] ELSE {_array(FIRST_NAMES)}[floor({len(FIRST_NAMES)} * "
        f"power({_frac(u, 0)}, 2))::int + 1] END"
    )
    last = f"{_array(LAST_NAMES)}[(u / 3) % {len(LAST_NAMES)} + 1]"
    return f"""
INSERT INTO users (id, email, email_key, name, password_hash, role, stripe_customer_id,
                   credits, held, created_at, email_verified_at, last_activity_at)
SELECT {_user_uuid("u")}, email, lower(email), name,
       '$argon2id$v=19$m=65536,t=3,p=4$' || left(pw, 22) || '$' || pw || left(pw, 11),
       'user',
       CASE WHEN u = 0 OR u % 10 = 1 THEN 'cus_' || left(md5('cus' || u), 14) END,
       CASE WHEN r1 = r0 THEN 100 * s ELSE {shape.balance("u", "r1 - r0")} END,
       0, created_at, created_at + interval '10 minutes',
       CASE WHEN r1 > r0 THEN {_ts(t0)} + ((r1 + u::float8
            / ({shape.users}::bigint * (r1 + 1) / {shape.rounds})) / {shape.rounds}) * {YEAR}
       END
FROM (
  SELECT u, r0, r1, s, md5('pw' || u) AS pw,
         {_ts(t0)} + (r0::float8 / {shape.rounds}) * {YEAR}
           + (u % 3600) * interval '1 second' AS created_at,
         CASE WHEN u % 5 = 0 THEN initcap(local) ELSE local END
           || '@example' || u % 50 || '.com' AS email,
         CASE WHEN u % 7 <> 3 THEN first || ' ' || last END AS name
  FROM (
    SELECT u, r0, {shape.r1("u", "r0")} AS r1, {shape.scale("u")} AS s, first, last,
           CASE WHEN u % 11 = 0 THEN lower(left(first, 1) || left(last, 1)) || u
                WHEN u % 3 = 0 THEN lower(first) || '.' || lower(last) || u
                ELSE lower(first) || u END AS local
    FROM (SELECT u, {r0} AS r0, {first} AS first, {last} AS last
          FROM generate_series(0, {shape.users - 1}) AS u) AS named
  ) AS drawn
) AS person
ORDER BY u
"""


def _ledger_round_sql(shape: Shape, r: int, t0: datetime) -> str:
    """One round's entries, in the order the app would have written them: each active
    user's next entry, and every q-th one followed by one of the heavy user's spends."""
    active = shape.active(r)
    heavy = shape.heavy_in_round(r)
    q = max(1, active // heavy) if heavy else 1
    u = "CASE WHEN x = 1 THEN 0 ELSE k END"
    kinds = _array(CYCLE_KINDS)
    deltas = _array(CYCLE_DELTAS)
    return f"""
INSERT INTO ledger_entries (id, user_id, kind, source, feature, description, delta,
                            balance_after, idempotency_key, created_at)
SELECT id, {_user_uuid("u")}, kind, source, feature, description, delta, balance_after,
       kind || ':' || md5(id::text), created_at
FROM (
  SELECT nextval('ledger_entries_id_seq') AS id, u, created_at,
         CASE WHEN heavy THEN CASE WHEN k % 5 = 0 THEN 'capture' ELSE 'spend' END
              WHEN n = 0 THEN 'grant' ELSE {kinds}[j + 1] END AS kind,
         CASE WHEN heavy THEN NULL WHEN n = 0 THEN 'signup'
              WHEN j = 0 THEN CASE WHEN u % 10 = 1 THEN 'subscription' ELSE 'pack' END
         END AS source,
         CASE WHEN heavy THEN 'qr' WHEN n > 0 AND j IN (1, 2, 3, 4, 5, 6, 8)
              THEN {_array(TOOLS)}[(p * 7 + u) % {len(TOOLS)} + 1] END AS feature,
         CASE WHEN NOT heavy AND n > 0 AND j = 7 THEN 'Adjusted by support' END
           AS description,
         CASE WHEN heavy THEN -1 WHEN n = 0 THEN 100 * s ELSE s * {deltas}[j + 1] END
           AS delta,
         CASE WHEN heavy THEN 100000 + k % 1000 WHEN n = 0 THEN 100 * s
              ELSE {shape.balance("u", "n")} END AS balance_after
  FROM (
    SELECT k, x = 1 AS heavy, {u} AS u, {r} - r0 AS n, (k + {r} - r0) % 10 AS j,
           k + {r} - r0 AS p, {shape.scale("k")} AS s,
           {_ts(t0)}
             + (({r} + k::float8 / {active}) / {shape.rounds}) * {YEAR} AS created_at
    FROM generate_series(0, {active - 1}) AS k
    CROSS JOIN LATERAL (SELECT {shape.r0("k")} AS r0) AS joined
    CROSS JOIN LATERAL generate_series(
      0, CASE WHEN k % {q} = 0 AND k / {q} < {heavy} THEN 1 ELSE 0 END) AS x
    WHERE x = 1 OR {r} <= {shape.r1("k", "r0")}
  ) AS slot
) AS entry
"""


SUBSCRIPTIONS_SQL = f"""
INSERT INTO user_subscriptions (user_id, plan_id, stripe_subscription_id, status,
    current_period_end, cancel_at_period_end, stripe_state_at, created_at, updated_at)
SELECT id, {_array(PAID_PLANS)}[n % {len(PAID_PLANS)} + 1], 'sub_' || left(md5(id::text), 14),
       CASE WHEN n % 20 = 0 THEN 'past_due' WHEN n % 13 = 0 THEN 'canceled' ELSE 'active' END,
       now() + (n % 30) * interval '1 day', n % 9 = 0, now(),
       created_at + interval '1 day', now() - (n % 30) * interval '1 day'
FROM (SELECT id, created_at, row_number() OVER (ORDER BY created_at) AS n
      FROM users WHERE stripe_customer_id IS NOT NULL) AS subscriber
"""

# Stripe events, in the order they arrived (all users' interleaved). {heavy} (the heavy
# user's id) and {heavy_events} are replaced (not str.format: the payload has braces).
STRIPE_EVENTS_SQL = """
INSERT INTO stripe_events (id, type, stripe_created, received_at, outcome, detail,
    updated_at, attempts, payload, user_id, stripe_customer_id)
SELECT 'evt_' || left(h, 24), type, received_at - interval '2 seconds', received_at,
       CASE WHEN i % 17 = 0 THEN 'ignored' WHEN i % 53 = 0 THEN 'failed' ELSE 'applied' END,
       '', received_at, 1,
       '{"id":"evt_' || left(h, 24) || '","object":"event","type":"' || type
         || '","data":{"object":{"customer":"' || customer || '","lines":"'
         || repeat(h, 16) || '"}}}',
       user_id, customer
FROM (
  SELECT md5(us.id::text || i) AS h, i, us.id AS user_id, us.stripe_customer_id AS customer,
         (ARRAY['invoice.paid', 'customer.subscription.updated', 'invoice.payment_succeeded',
                'checkout.session.completed', 'charge.refunded'])[i % 5 + 1] AS type,
         us.created_at + ((i - 0.5) / n) * (now() - us.created_at) AS received_at
  FROM users us
  CROSS JOIN LATERAL (SELECT CASE WHEN us.id = '{heavy}' THEN {heavy_events} ELSE 12 END
                      AS n) AS sized
  CROSS JOIN LATERAL generate_series(1, n) AS i
  WHERE us.stripe_customer_id IS NOT NULL
  ORDER BY received_at
) AS event
"""

CREDIT_LOTS_SQL = """
INSERT INTO credit_lots (user_id, source, priority, amount, remaining, reserved,
                         expires_at, created_at)
SELECT id, 'signup', 0, credits, credits, 0, NULL, created_at FROM users WHERE credits > 0
UNION ALL
SELECT id, 'subscription', 1, 1000, 0, 0, created_at + interval '30 days', created_at
FROM users WHERE stripe_customer_id IS NOT NULL
"""

AUTH_SESSIONS_SQL = """
INSERT INTO auth_sessions (user_id, token_hash, live_token, created_at, expires_at,
                           revoked_at)
SELECT {user_id}, md5('t' || u || '-' || i) || md5('T' || u || '-' || i),
       md5('l' || u || '-' || i) || md5('L' || u || '-' || i), started,
       started + interval '14 days',
       CASE WHEN (u + i) % 4 = 0 THEN started + interval '1 day' END
FROM generate_series(0, {users} - 1, 2) AS u
CROSS JOIN LATERAL generate_series(1, CASE WHEN u = 0 THEN 100 ELSE 1 END) AS i
CROSS JOIN LATERAL (SELECT now() - ((u + i) % 60) * interval '1 day' AS started) AS t
"""

SCHEMA_SNAPSHOT_SQL = """
SELECT 'index', tablename || '.' || indexname, indexdef FROM pg_indexes
 WHERE schemaname = 'public'
UNION ALL
SELECT 'constraint', conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL
SELECT 'options', relname, array_to_string(reloptions, ',') FROM pg_class
 WHERE relnamespace = 'public'::regnamespace AND reloptions IS NOT NULL
ORDER BY 1, 2
"""


def _schema(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(SCHEMA_SNAPSHOT_SQL).fetchall()


@contextmanager
def _bulk_load(conn: psycopg.Connection, table: str) -> Iterator[None]:
    """Fill `table` without its secondary indexes, unique and foreign keys (built once at
    the end, by sorting, instead of one random insert per row) and without autovacuum;
    everything is put back as it was. The primary key stays (ids arrive in order)."""
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype IN ('u', 'f') ORDER BY contype DESC",
        [table],
    ).fetchall()
    indexes = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        " AND tablename = %s AND indexname NOT IN"
        " (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        [table, table],
    ).fetchall()
    ident = sql.Identifier(table)
    for name, _definition, _kind in sorted(constraints, key=lambda c: c[2]):  # 'f' first
        conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(ident, sql.Identifier(name))
        )
    for name, _definition in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    conn.execute(sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)").format(ident))
    yield
    for name, definition, _kind in constraints:  # unique ones first, then foreign keys
        started = time.perf_counter()
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                ident, sql.Identifier(name), sql.SQL(definition)
            )
        )
        print(f"    {name}: {time.perf_counter() - started:.0f} s")
    for name, definition in indexes:
        started = time.perf_counter()
        conn.execute(definition)
        print(f"    {name}: {time.perf_counter() - started:.0f} s")
    conn.execute(sql.SQL("ALTER TABLE {} RESET (autovacuum_enabled)").format(ident))


@contextmanager
def _step(label: str) -> Iterator[None]:
    print(f"  {label} ...", flush=True)
    started = time.perf_counter()
    yield
    print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)


def populate(conn: psycopg.Connection, args: argparse.Namespace) -> None:
    rounds = max(1, round(args.entries_per_user * 8 / 3))
    if args.users < rounds:
        raise SystemExit(f"--users must be at least {rounds} for this --entries-per-user")
    shape = Shape(users=args.users, rounds=rounds, heavy_entries=args.heavy_entries)
    t0 = datetime.now(UTC) - timedelta(days=365)
    conn.execute("SET maintenance_work_mem = '1GB'")
    conn.execute("SET work_mem = '256MB'")
    conn.execute("SET synchronous_commit = off")
    before = _schema(conn)
    started = time.perf_counter()
    with _step(f"users ({args.users:,})"):
        conn.execute(_users_sql(shape, t0))
    with _step(f"ledger_entries ({rounds} rounds)"), _bulk_load(conn, "ledger_entries"):
        written = 0
        for r in range(rounds):
            written += conn.execute(_ledger_round_sql(shape, r, t0)).rowcount
            if (r + 1) % max(1, rounds // 10) == 0:
                rate = written / (time.perf_counter() - started)
                print(f"    round {r + 1}/{rounds}: {written:,} rows ({rate:,.0f}/s)", flush=True)
        print("    rebuilding keys and indexes:")
    with _step("subscriptions, Stripe events, credit lots, sessions"):
        conn.execute(SUBSCRIPTIONS_SQL)
        conn.execute(
            STRIPE_EVENTS_SQL.replace("{heavy}", str(heavy_user_id())).replace(
                "{heavy_events}", str(args.heavy_events)
            )
        )
        conn.execute(CREDIT_LOTS_SQL)
        conn.execute(AUTH_SESSIONS_SQL.format(user_id=_user_uuid("u"), users=args.users))
    with _step("VACUUM (ANALYZE)"):
        conn.execute("VACUUM (ANALYZE)")
    if _schema(conn) != before:
        raise SystemExit("the schema changed while populating: indexes or keys not restored")
    print(f"  population: {time.perf_counter() - started:.0f} s in all")


def print_sizes(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "SELECT relname, reltuples::bigint, pg_table_size(oid), pg_indexes_size(oid)"
        " FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
        " AND reltuples > 0 ORDER BY pg_total_relation_size(oid) DESC"
    ).fetchall()
    print("table                   rows        table MB   indexes MB")
    for name, tuples, table, indexes in rows:
        print(f"  {name:20} {tuples:>12,} {table / 2**20:>10,.0f} {indexes / 2**20:>10,.0f}")


# --- measuring -----------------------------------------------------------------------------


@dataclass
class Result:
    phase: str
    name: str
    median_ms: float
    p95_ms: float
    runs: int
    rows: int
    plan: str


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _node_line(node: dict[str, Any]) -> str:
    text = node["Node Type"]
    if node.get("Scan Direction") == "Backward":
        text += " Backward"
    if "Index Name" in node:
        text += f" using {node['Index Name']}"
    if "Relation Name" in node:
        text += f" on {node['Relation Name']}"
    if "Sort Method" in node:
        text += f" ({node['Sort Method']})"
    text += f"  rows={node.get('Actual Rows')}x{node.get('Actual Loops')}"
    text += f" {node.get('Actual Total Time', 0):.1f}ms"
    for key, label in (("Rows Removed by Filter", "filtered"), ("Heap Fetches", "heap")):
        if node.get(key):
            text += f" {label}={node[key]}"
    hit, read = node.get("Shared Hit Blocks", 0), node.get("Shared Read Blocks", 0)
    return text + f" buf hit={hit} read={read}"


def _walk(node: dict[str, Any], depth: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    yield depth, node
    for child in node.get("Plans", []):
        yield from _walk(child, depth + 1)


def _key_nodes(plan: dict[str, Any]) -> str:
    """The plan's scans (which index, which direction) and sorts, in one short line."""
    keys: list[str] = []
    for _depth, node in _walk(plan):
        kind = node["Node Type"]
        if "Scan" in kind and ("Index Name" in node or kind == "Seq Scan"):
            short = {
                "Seq Scan": "Seq",
                "Index Scan": "Idx",
                "Index Only Scan": "IdxOnly",
                "Bitmap Index Scan": "Bitmap",
            }.get(kind, kind)
            if node.get("Scan Direction") == "Backward":
                short += "Bwd"
            key = f"{short}({node.get('Index Name') or node.get('Relation Name')})"
        elif kind in ("Sort", "Incremental Sort"):
            key = "top-N sort" if "top-N" in node.get("Sort Method", "") else "sort"
        else:
            continue
        if key not in keys:
            keys.append(key)
    return " + ".join(keys)


class Bench:
    def __init__(self, conn: psycopg.Connection, repeat: int, budget: float) -> None:
        self.conn = conn
        self.repeat = repeat
        self.budget = budget
        self.results: list[Result] = []
        self.phase = "baseline"

    def run(self, name: str, query: str, params: dict[str, Any] | None = None) -> Result:
        explained = self.conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query, params
        ).fetchone()
        assert explained is not None
        document = explained[0][0]
        timings: list[float] = []
        rows = 0
        spent_since = time.perf_counter()
        while len(timings) < self.repeat and (
            len(timings) < 3 or time.perf_counter() - spent_since < self.budget
        ):
            started = time.perf_counter()
            rows = len(self.conn.execute(query, params).fetchall())
            timings.append((time.perf_counter() - started) * 1000)
        result = Result(
            phase=self.phase,
            name=name,
            median_ms=statistics.median(timings),
            p95_ms=_percentile(timings, 0.95),
            runs=len(timings),
            rows=rows,
            plan=_key_nodes(document["Plan"]),
        )
        self.results.append(result)
        print(
            f"\n[{self.phase}] {name}: median {result.median_ms:.2f} ms,"
            f" p95 {result.p95_ms:.2f} ms ({result.runs} runs, {rows} rows)"
        )
        for depth, node in _walk(document["Plan"]):
            print("    " + "  " * depth + _node_line(node))
        jit = document.get("JIT", {}).get("Timing", {}).get("Total")
        print(
            f"    execution {document['Execution Time']:.1f} ms"
            + (f", JIT {jit:.0f} ms" if jit else "")
        )
        return result

    def run_generic(self, name: str, query: str, user: uuid.UUID) -> Result:
        """`query` (with $1 for the user) as a prepared statement forced onto its generic
        plan: the plan a driver's prepared statement may settle on after five runs."""
        self.conn.execute("SET plan_cache_mode = force_generic_plan")
        self.conn.execute(f"PREPARE bench_generic(uuid) AS {query}")
        try:
            call = sql.SQL("EXECUTE bench_generic({})").format(sql.Literal(str(user)))
            return self.run(name, call.as_string(self.conn))
        finally:
            self.conn.execute("DEALLOCATE bench_generic")
            self.conn.execute("RESET plan_cache_mode")

    @contextmanager
    def candidate_index(self, phase: str, *definitions: str) -> Iterator[None]:
        """Indexes created for a phase of measurements, dropped again afterwards."""
        names = []
        for definition in definitions:
            started = time.perf_counter()
            self.conn.execute(definition)
            name = definition.split()[2]  # CREATE INDEX <name> ...
            names.append(name)
            size = self.conn.execute("SELECT pg_relation_size(%s::regclass)", [name]).fetchone()
            assert size is not None
            print(
                f"\n== {name}: built in {time.perf_counter() - started:.1f} s,"
                f" {size[0] / 2**20:,.1f} MB"
            )
        self.conn.execute("ANALYZE users, ledger_entries, stripe_events")
        previous, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.phase = previous
            for name in names:
                self.conn.execute(f"DROP INDEX IF EXISTS {name}")


def like_prefix(text: str) -> str:
    """What a customer search types, as a LIKE prefix: lowercased, wildcards escaped."""
    return text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


MATCH = "(lower(u.email_key) LIKE %(p)s || '%%' OR lower(u.name) LIKE %(p)s || '%%')"
USER_COLUMNS = "u.id, u.email, u.name, u.credits, u.held, u.last_activity_at, u.created_at"
SEARCH_ORDERS = {
    "credits": ("", "u.credits DESC, u.id DESC"),
    "activity": ("", "u.last_activity_at DESC NULLS LAST, u.id DESC"),
    "plan": (
        " LEFT JOIN user_subscriptions s ON s.user_id = u.id"
        " LEFT JOIN subscription_plans pl ON pl.id = s.plan_id",
        "pl.rank DESC NULLS LAST, pl.name, u.id DESC",
    ),
}


def search_queries(bench: Bench, prefixes: dict[str, str]) -> None:
    for label, prefix in prefixes.items():
        params = {"p": like_prefix(prefix)}
        for order, (join, order_by) in SEARCH_ORDERS.items():
            bench.run(
                f"search {label} '{prefix}' by {order}",
                f"SELECT {USER_COLUMNS} FROM users u{join} WHERE {MATCH}"
                f" ORDER BY {order_by} LIMIT 25",
                params,
            )
        bench.run(
            f"search {label} '{prefix}' count",
            f"SELECT count(*) FROM users u WHERE {MATCH}",
            params,
        )


def browse_queries(bench: Bench) -> None:
    for order in ("credits", "activity"):
        _join, order_by = SEARCH_ORDERS[order]
        for page in (1, 400):
            bench.run(
                f"browse by {order} page {page}",
                f"SELECT {USER_COLUMNS} FROM users u ORDER BY {order_by}"
                f" LIMIT 25 OFFSET {(page - 1) * 25}",
            )
    bench.run("browse count", "SELECT count(*) FROM users")


LEDGER_PAGE = (
    "SELECT id, kind, source, feature, description, delta, balance_after, created_at"
    " FROM ledger_entries WHERE user_id = {u}{extra} ORDER BY id DESC LIMIT 20{offset}"
)


def ledger_queries(bench: Bench, who: str, user: uuid.UUID, t0: datetime) -> None:
    params = {"u": user, "a": t0 + timedelta(days=180), "b": t0 + timedelta(days=210)}
    page = LEDGER_PAGE.replace("{u}", "%(u)s")
    bench.run(f"{who}: ledger page 1", page.format(extra="", offset=""), params)
    bench.run(f"{who}: ledger offset 2000", page.format(extra="", offset=" OFFSET 2000"), params)
    bench.run(
        f"{who}: ledger spend+capture",
        page.format(extra=" AND kind IN ('spend', 'capture')", offset=""),
        params,
    )
    bench.run(
        f"{who}: ledger 30-day window",
        page.format(extra=" AND created_at >= %(a)s AND created_at < %(b)s", offset=""),
        params,
    )
    bench.run(
        f"{who}: ledger count", "SELECT count(*) FROM ledger_entries WHERE user_id = %(u)s", params
    )
    bench.run_generic(
        f"{who}: ledger page 1 (generic plan)",
        LEDGER_PAGE.replace("{u}", "$1").format(extra="", offset=""),
        user,
    )


def customer_queries(bench: Bench, who: str, user: uuid.UUID, t0: datetime) -> None:
    params = {"u": user}
    bench.run(
        f"{who}: profile",
        "SELECT u.*, s.plan_id, s.status, s.current_period_end FROM users u"
        " LEFT JOIN user_subscriptions s ON s.user_id = u.id WHERE u.id = %(u)s",
        params,
    )
    ledger_queries(bench, who, user, t0)
    bench.run(
        f"{who}: credit lots",
        "SELECT * FROM credit_lots WHERE user_id = %(u)s AND remaining > 0"
        " ORDER BY expires_at NULLS LAST, priority, id",
        params,
    )
    stripe_query(bench, who, user)
    bench.run(
        f"{who}: auth sessions",
        "SELECT id, created_at, expires_at, revoked_at FROM auth_sessions"
        " WHERE user_id = %(u)s ORDER BY created_at DESC LIMIT 20",
        params,
    )


def stripe_query(bench: Bench, who: str, user: uuid.UUID) -> None:
    bench.run(
        f"{who}: stripe events",
        "SELECT id, type, outcome, detail, received_at FROM stripe_events"
        " WHERE user_id = %(u)s ORDER BY received_at DESC LIMIT 20",
        {"u": user},
    )


def overview_queries(bench: Bench) -> None:
    for days in (30, 90):
        bench.run(
            f"overview per day+kind, {days} days",
            "SELECT date_trunc('day', created_at) AS day, kind, sum(delta), count(*)"
            f" FROM ledger_entries WHERE created_at >= now() - interval '{days} days'"
            " GROUP BY 1, 2 ORDER BY 1, 2",
        )
    bench.run(
        "overview top tools, 30 days",
        "SELECT feature, -sum(delta) AS credits, count(*) FROM ledger_entries"
        " WHERE created_at >= now() - interval '30 days'"
        " AND kind IN ('spend', 'capture', 'refund') AND feature IS NOT NULL"
        " GROUP BY feature ORDER BY credits DESC",
    )


# --- the spend's UPDATE, HOT or not ------------------------------------------------------

SPEND_UPDATE = (
    "UPDATE users SET credits = credits - 1, last_activity_at = now()"
    " WHERE id = %(u)s AND credits >= 1 RETURNING credits"
)
SPEND_ENTRY = (
    "INSERT INTO ledger_entries (user_id, kind, feature, delta, balance_after,"
    " idempotency_key, created_at) VALUES (%(u)s, 'spend', 'qr', -1, %(b)s, %(k)s, now())"
)


XACT_UPDATES = (
    "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'users'"
)


@dataclass
class SpendRun:
    label: str
    updates_per_s: float
    spends_per_s: float
    updates_async_per_s: float
    hot_share: float
    wal_records: float  # per UPDATE: 1 when HOT, plus one per index entry otherwise
    wal_bytes: float  # median per UPDATE (a full-page image after a checkpoint is noise)


def _timed_loop(conn: psycopg.Connection, users: list[uuid.UUID], count: int, entry: bool) -> float:
    started = time.perf_counter()
    for i in range(count):
        user = users[i % len(users)]
        row = conn.execute(SPEND_UPDATE, {"u": user}).fetchone()
        assert row is not None
        if entry:
            conn.execute(SPEND_ENTRY, {"u": user, "b": row[0], "k": f"bench-{uuid.uuid4()}"})
        conn.commit()
    return count / (time.perf_counter() - started)


def spend_loop(dsn: str, label: str, users: list[uuid.UUID], count: int) -> SpendRun:
    """Single-transaction spends cycling over `users`: `count` UPDATEs alone, `count`
    UPDATEs and their ledger INSERT, and `count` UPDATEs with synchronous_commit off (what
    is left without the commit's flush: the work of the UPDATE itself). Then one UPDATE a
    user under EXPLAIN (ANALYZE, WAL), to count the HOT ones and the WAL each writes.
    Each user is updated once first, unmeasured: on freshly loaded, full pages the first
    update of a row can never be HOT."""
    with psycopg.connect(dsn, prepare_threshold=None) as conn:
        for user in users:
            conn.execute(SPEND_UPDATE, {"u": user})
            conn.commit()
        updates = _timed_loop(conn, users, count, entry=False)
        spends = _timed_loop(conn, users, count, entry=True)
        conn.execute("SET synchronous_commit = off")
        updates_async = _timed_loop(conn, users, count, entry=False)
        conn.execute("RESET synchronous_commit")
        conn.commit()
        hot = 0
        records = 0
        wal: list[float] = []
        for user in users:
            # Pending counts of this session (not yet flushed to pg_stat_user_tables).
            before = conn.execute(XACT_UPDATES).fetchone()
            explained = conn.execute(
                "EXPLAIN (ANALYZE, WAL, FORMAT JSON) " + SPEND_UPDATE, {"u": user}
            ).fetchone()
            assert explained is not None
            plan = explained[0][0]["Plan"]
            records += plan.get("WAL Records", 0)
            wal.append(plan.get("WAL Bytes", 0))
            counts = conn.execute(XACT_UPDATES).fetchone()
            assert counts is not None
            assert before is not None
            hot += counts[1] - before[1]
            conn.commit()
    run = SpendRun(
        label,
        updates,
        spends,
        updates_async,
        hot_share=hot / len(users),
        wal_records=records / len(users),
        wal_bytes=statistics.median(wal),
    )
    print(
        f"\n[spend, {label}] {updates:,.0f} UPDATEs/s, {spends:,.0f} spends/s"
        f" (UPDATE + ledger INSERT), {updates_async:,.0f} UPDATEs/s without waiting for"
        f" the flush; HOT {run.hot_share:.0%}, WAL {run.wal_records:.1f} records and"
        f" {run.wal_bytes:,.0f} bytes an UPDATE"
    )
    return run


# --- the run -------------------------------------------------------------------------------

USERS_BY_CREDITS = "CREATE INDEX ix_bench_users_credits ON users (credits, id)"
USERS_BY_ACTIVITY = (
    "CREATE INDEX ix_bench_users_activity ON users (last_activity_at DESC NULLS LAST, id DESC)"
)


def choose_prefixes(conn: psycopg.Connection) -> dict[str, str]:
    """A 1-letter prefix matching many, a 3-letter one matching a few hundred per million,
    and an 8-character one matching one user."""
    total = conn.execute("SELECT count(*) FROM users").fetchone()[0]  # type: ignore[index]
    many = conn.execute(
        "SELECT left(email_key, 1) FROM users GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()[0]  # type: ignore[index]
    some = conn.execute(
        "SELECT left(email_key, 3) FROM users WHERE email_key ~ '^[a-z]{3}'"
        " GROUP BY 1 HAVING count(*) > 1"
        " ORDER BY abs(count(*) - %s) LIMIT 1",
        [max(2, total // 4000)],
    ).fetchone()[0]  # type: ignore[index]
    one = conn.execute(
        "SELECT left(email_key, 8) FROM users WHERE email_key ~ '^[a-z0-9.]{8}'"
        " GROUP BY 1 HAVING count(*) = 1 ORDER BY 1 DESC LIMIT 1"
    ).fetchone()[0]  # type: ignore[index]
    prefixes = {"many": many, "some": some, "one": one}
    for label, prefix in prefixes.items():
        matches = conn.execute(
            f"SELECT count(*) FROM users u WHERE {MATCH}", {"p": like_prefix(prefix)}
        ).fetchone()[0]  # type: ignore[index]
        print(f"  prefix {label} '{prefix}': {matches:,} users")
    return prefixes


def choose_typical_user(conn: psycopg.Connection, entries_per_user: int) -> uuid.UUID:
    """Of 50 users who joined mid-year, the one whose entry count is closest to the mean."""
    half = conn.execute("SELECT count(*) / 2 FROM users").fetchone()[0]  # type: ignore[index]
    row = conn.execute(
        "SELECT e.user_id, count(*) FROM ledger_entries e WHERE e.user_id IN"
        " (SELECT id FROM users ORDER BY created_at, id LIMIT 50 OFFSET %s)"
        " GROUP BY 1 ORDER BY abs(count(*) - %s), 1 LIMIT 1",
        [half, entries_per_user],
    ).fetchone()
    assert row is not None
    return row[0]


def measure(
    conn: psycopg.Connection, dsn: str, args: argparse.Namespace
) -> tuple[list[Result], list[SpendRun]]:
    bench = Bench(conn, args.repeat, args.budget_seconds)
    heavy = heavy_user_id()
    typical = choose_typical_user(conn, args.entries_per_user)
    t0 = conn.execute("SELECT min(created_at) FROM ledger_entries").fetchone()[0]  # type: ignore[index]
    for who, user in (("typical", typical), ("heavy", heavy)):
        count = conn.execute(
            "SELECT count(*) FROM ledger_entries WHERE user_id = %s", [user]
        ).fetchone()[0]  # type: ignore[index]
        print(f"  {who} user {user}: {count:,} ledger entries")
    prefixes = choose_prefixes(conn)

    print("\n===== the schema as migrated =====")
    search_queries(bench, prefixes)
    browse_queries(bench)
    for who, user in (("typical", typical), ("heavy", heavy)):
        customer_queries(bench, who, user, t0)
    overview_queries(bench)

    print("\n===== users.credits / last_activity_at indexes, and the spend's cost =====")
    spenders = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM users WHERE credits >= 100 ORDER BY id LIMIT %s", [3 * args.spenders]
        )
    ]
    groups = [spenders[i::3] for i in range(3)]
    spends = [spend_loop(dsn, "no users index", groups[0], args.hot_updates)]
    with bench.candidate_index("+users(credits)", USERS_BY_CREDITS):
        spends.append(spend_loop(dsn, "+ index on credits", groups[1], args.hot_updates))
        with bench.candidate_index("+users(credits), (last_activity_at)", USERS_BY_ACTIVITY):
            spends.append(
                spend_loop(dsn, "+ credits and last_activity_at", groups[2], args.hot_updates)
            )
            search_queries(bench, prefixes)
            browse_queries(bench)

    print("\n===== ledger_entries (user_id, id), then also (user_id, kind, id) =====")
    by_user = "CREATE INDEX ix_bench_ledger_user_id_id ON ledger_entries (user_id, id)"
    by_kind = "CREATE INDEX ix_bench_ledger_user_kind_id ON ledger_entries (user_id, kind, id)"
    with bench.candidate_index("+ledger(user_id, id)", by_user):
        for who, user in (("typical", typical), ("heavy", heavy)):
            ledger_queries(bench, who, user, t0)
        with bench.candidate_index("+ledger(user_id, id), (user_id, kind, id)", by_kind):
            for who, user in (("typical", typical), ("heavy", heavy)):
                ledger_queries(bench, who, user, t0)

    print("\n===== stripe_events (user_id, received_at) =====")
    events = "CREATE INDEX ix_bench_stripe_user_received ON stripe_events (user_id, received_at)"
    with bench.candidate_index("+stripe(user_id, received_at)", events):
        for who, user in (("typical", typical), ("heavy", heavy)):
            stripe_query(bench, who, user)

    print("\n===== BRIN on ledger_entries (created_at) =====")
    brin = "CREATE INDEX ix_bench_ledger_created_brin ON ledger_entries USING brin (created_at)"
    with bench.candidate_index("+ledger BRIN(created_at)", brin):
        overview_queries(bench)

    print("\n===== the spend with and without an index on users' sort columns =====")
    for run in spends:
        base = spends[0]
        print(
            f"  {run.label:32}"
            f" {run.updates_per_s:6,.0f} UPDATEs/s ({run.updates_per_s / base.updates_per_s:.2f}x)"
            f" {run.spends_per_s:6,.0f} spends/s ({run.spends_per_s / base.spends_per_s:.2f}x)"
            f" {run.updates_async_per_s:6,.0f} async UPDATEs/s"
            f" ({run.updates_async_per_s / base.updates_async_per_s:.2f}x)"
            f"  HOT {run.hot_share:.0%}, WAL {run.wal_records:.1f} rec {run.wal_bytes:,.0f} B"
        )
    return bench.results, spends


def summary(results: list[Result], spends: list[SpendRun]) -> str:
    lines = [
        "| phase | query | median ms | p95 ms | runs | rows | plan |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.phase} | {r.name} | {r.median_ms:.2f} | {r.p95_ms:.2f} | {r.runs}"
            f" | {r.rows} | {r.plan} |"
        )
    lines += [
        "",
        "| spends, one connection | UPDATE/s | spend/s (+ ledger INSERT) | UPDATE/s, async"
        " commit | HOT | WAL records/UPDATE | WAL bytes/UPDATE |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in spends:
        lines.append(
            f"| {s.label} | {s.updates_per_s:,.0f} | {s.spends_per_s:,.0f}"
            f" | {s.updates_async_per_s:,.0f} | {s.hot_share:.0%} | {s.wal_records:.1f}"
            f" | {s.wal_bytes:,.0f} |"
        )
    return "\n".join(lines)


def _admin(admin_dsn: str, statement: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(statement)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="credit_admin_bench")
    parser.add_argument("--admin-dsn", default=PG_ADMIN_DSN, help="where to create it")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--entries-per-user", type=int, default=50)
    parser.add_argument("--heavy-entries", type=int, default=200_000)
    parser.add_argument("--heavy-events", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--budget-seconds", type=float, default=20.0, help="per query")
    parser.add_argument("--hot-updates", type=int, default=2_000)
    parser.add_argument("--spenders", type=int, default=200, help="users the spends cycle over")
    parser.add_argument("--keep", action="store_true", help="leave the database in place")
    parser.add_argument("--reuse", action="store_true", help="measure an existing database")
    parser.add_argument("--markdown", help="also write the summary table to this file")
    args = parser.parse_args()

    database = '"' + args.database.replace('"', '""') + '"'
    base = args.admin_dsn.rsplit("/", 1)[0]
    dsn = f"{base}/{args.database}"
    if not args.reuse:
        _admin(args.admin_dsn, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        _admin(args.admin_dsn, f"CREATE DATABASE {database}")
    try:
        with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
            if not args.reuse:
                print(f"Building {args.database}:")
                with _step("migrations"):
                    migrations.upgrade(dsn.replace("postgresql://", "postgresql+psycopg://", 1))
                populate(conn, args)
            print_sizes(conn)
            results, spends = measure(conn, dsn, args)
    finally:
        if not args.keep:
            _admin(args.admin_dsn, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    table = summary(results, spends)
    print("\n" + table)
    if args.markdown:
        with open(args.markdown, "w") as out:
            out.write(table + "\n")


if __name__ == "__main__":
    main()
