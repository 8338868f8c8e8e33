"""After a render: results (retry, hold, fail or publish), publish (image and report as a
unit) and archive (done/ or failed/)."""
