"""The HTTP service: FastAPI app (search, assets, jobs, models, health), metrics, ops dashboard.

``create_app(settings)`` builds the app; its lifespan opens the catalog, the vector store and the
query encoder once, and closes them on shutdown. ``modalign serve`` runs it under uvicorn.
"""
