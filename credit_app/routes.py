"""Every page's path, named once. Pages, links, redirects and the app's page table use these.

The bottom layer (beside settings): services may need a path too, e.g. the portal's return
URL, so nothing here imports anything of the app.
"""

from urllib.parse import quote, urlencode

HOME = "/"
SIGNUP = "/signup"
LOGIN = "/login"
DASHBOARD = "/dashboard"
PRICING = "/pricing"
CHECKOUT_RETURN = "/billing/success"
TOOLS = "/tools"
USAGE = "/usage"
TERMS = "/terms"
PRIVACY = "/privacy"
REFUNDS = "/refunds"
# Reached from links in e-mails (`?token=...`) and the log-in page.
FORGOT_PASSWORD = "/forgot-password"
RESET_PASSWORD = "/reset-password"
VERIFY_EMAIL = "/verify-email"
# The account page, and where the link that confirms a new address lands (`?token=...`).
ACCOUNT = "/account"
ACCOUNT_CONFIRM_EMAIL = "/account/confirm-email"
ACCOUNT_DELETED = "/account/deleted"

# The admin console (role admin): the overview, then one page per job. A customer's page
# takes their id in the query (`?id=<uuid>`, admin_customer()).
ADMIN = "/admin"
ADMIN_CUSTOMERS = "/admin/customers"
ADMIN_CUSTOMER = "/admin/customer"
ADMIN_EVENTS = "/admin/events"
ADMIN_SHORTFALLS = "/admin/shortfalls"
ADMIN_AUDIT = "/admin/audit"

# HTTP endpoints beside the pages (credit_app.api).
HEALTH = "/api/health"
# 200 when the database (and Redis, when REDIS_URL is set) answer: for load balancers.
READY = "/api/ready"
# Prometheus metrics: served only to direct peers in METRICS_ALLOW (credit_app.api.metrics).
METRICS = "/metrics"
STRIPE_WEBHOOK = "/api/webhooks/stripe"
# The credits API (credit_app.api.v1), its OpenAPI document and its reference page.
API_V1 = "/api/v1"
API_OPENAPI = "/api/v1/openapi.json"
API_REFERENCE = "/api/v1/docs"


def with_next(page: str, next_path: str) -> str:
    """`page?next=<next_path>`: where log-in or sign-up sends the person afterwards."""
    return f"{page}?next={quote(next_path, safe='/')}"


def with_token(page: str, token: str) -> str:
    """`page?token=<token>`: the page an e-mailed link opens, with its single-use token."""
    return f"{page}?{urlencode({'token': token})}"


def absolute(app_url: str, path: str) -> str:
    """A path of ours as a full URL under APP_URL (links in e-mails)."""
    return app_url.rstrip("/") + path


def admin_customer(user_id: str) -> str:
    """The admin's page of one customer."""
    return f"{ADMIN_CUSTOMER}?{urlencode({'id': user_id})}"


def pricing_for(plan_id: str) -> str:
    """The pricing page with one plan or pack preselected."""
    return f"{PRICING}?{urlencode({'plan': plan_id})}"


def safe_next(path: str | None, default: str = DASHBOARD) -> str:
    """Only same-site paths, so ?next= cannot send a person to another site."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return default
