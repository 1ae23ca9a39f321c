"""The admin console's services: what an operator can see and do, usable from the console
pages (state/admin*.py) and from `credit-app` alike. No Reflex here.

    customers     search, and everything the customer page shows of one
    adjustments   grant or deduct credits (an ADJUST ledger entry) with a reason
    accounts      the admin role, signing a customer out, their settings on their behalf
    events        Stripe events: list, what each did, replay
    shortfalls    credits refunds could not take back: write off or recover
    metrics       the overview's numbers, computed from the tables when asked
    checks        reconcile, recorded
    audit         the append-only audit log every action above writes to, in the same
                  transaction as the action

Who may call them is decided above this layer: the console's state re-checks the session
and the role on every event (auth.admin_access); the CLI is the operator's own shell.
"""
