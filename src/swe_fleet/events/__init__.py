"""The event vocabulary shared by every service: subjects, streams, the envelope and payload models.

Producers and consumers both import from here; nothing here imports a service or a transport.
"""

from swe_fleet.events.catalogue import CATALOGUE, SubjectSpec, model_for_subject
from swe_fleet.events.envelope import Envelope, EventDecodeError, decode_event, encode_event, new_event_id
from swe_fleet.events.streams import STREAMS, StreamSpec, stream_for_subject

__all__ = [
    "CATALOGUE",
    "STREAMS",
    "Envelope",
    "EventDecodeError",
    "StreamSpec",
    "SubjectSpec",
    "decode_event",
    "encode_event",
    "model_for_subject",
    "new_event_id",
    "stream_for_subject",
]
