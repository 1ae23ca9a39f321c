"""`reconcile` for operators: every invariant checked, and the run recorded in the audit
log (who ran it, how many accounts drifted), which is where the overview reads "last run".
"""

from datetime import datetime

from sqlmodel import Session

from credit_app import credits
from credit_app.admin import audit
from credit_app.credits import daily


def reconcile(session: Session, *, actor: audit.Actor, now: datetime) -> list:
    """The drift found (empty: every invariant holds); the run is audited either way."""
    drift = (
        credits.find_drift(session)
        + credits.find_hold_drift(session)
        + credits.find_lot_drift(session)
        + daily.find_daily_drift(session)
    )
    audit.record(
        session, actor=actor, action=audit.Action.RECONCILE, after={"drift": len(drift)}, now=now
    )
    return drift
