"""Scaling out on Ray Serve (docs/scaling.md): the stages as deployments on a cluster, the HTTP ingress
the same FastAPI app. Needs the `ray` extra; imported only by `omnivox serve --ray` and `omnivox
ray-config`, so that without them nothing of Ray is imported."""
