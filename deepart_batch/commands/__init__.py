"""The commands behind `deepart-batch COMMAND`: each module adds its parsers and handlers.

They depend on the library, never the reverse: nothing in deepart_batch outside this
package and cli.py imports it. Modules import torch only inside the handlers that render,
so `--help`, `validate`, `status` and `retry` stay torch-free.
"""
