"""Prometheus metrics shared by the process (one registry per process, exposed at `/metrics`)."""

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "agentic_http_requests_total",
    "HTTP requests handled, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "agentic_http_request_duration_seconds",
    "Time to handle an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_IN_FLIGHT = Gauge("agentic_http_requests_in_flight", "HTTP requests being handled now.")
WORKER_SLOTS = Gauge("agentic_worker_slots", "Task slots of in-process and standalone workers.", ["state"])

TASKS_BY_STATE = Gauge("agentic_tasks", "Tasks by state, across the installation.", ["state"])
OLDEST_QUEUED_AGE = Gauge("agentic_oldest_queued_task_age_seconds", "Age of the oldest runnable queued task.")
EXPIRED_LEASES = Gauge(
    "agentic_expired_leases", "Running tasks whose lease has expired (awaiting the reaper)."
)

DEPENDENCY_UP = Gauge(
    "agentic_dependency_up",
    "1 if a dependency answered its last check, 0 if not. Redis at 0 is a degraded state (signals fall back "
    "to polling, throttles to per-process limits), not unreadiness; the database at 0 is not ready.",
    ["dependency"],
)
DATABASE_FAULTS = Counter(
    "agentic_http_database_faults_total",
    "Requests that met a passing database fault (disconnected, unreachable, saturated), by what the API did: "
    "retried (safe requests, once, on a fresh connection), unavailable (answered 503 with Retry-After), "
    "lost (the response had started: cut short), after_response (in the clean-up after a whole response).",
    ["fault", "outcome"],
)
