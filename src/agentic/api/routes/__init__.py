"""Route modules, one per resource.

Each router carries its full path prefix (`API_PREFIX` + resource) and is included without another prefix:
then every route's own `path` is its complete template, which metrics and logs use as the route label.
"""

API_PREFIX = "/v1"
