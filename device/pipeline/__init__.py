"""The signal pipeline: conditioning, detection, measurement — one implementation, live and offline."""
from device.pipeline.detect import Pipeline, analyze, analyze_stream
from device.pipeline.types import Contraction, Episode, Event

__all__ = ["Contraction", "Episode", "Event", "Pipeline", "analyze", "analyze_stream"]
