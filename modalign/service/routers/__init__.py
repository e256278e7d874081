"""The API's routers, one per resource: search, assets, jobs, models, health, admin."""
