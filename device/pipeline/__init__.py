"""The signal pipeline: conditioning, detection, measurement — one implementation, live and offline."""
from .detect import Contraction, Event, Pipeline, analyze

__all__ = ["Contraction", "Event", "Pipeline", "analyze"]
