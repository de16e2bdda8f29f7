# SPDX-License-Identifier: Apache-2.0
"""The cross-built layercode-player on the target's instruction set: tests/integration's
echo sessions (WAV in and out, plain and TLS WebSocket, the echo of the input checked at the
devserver and in the output WAV), run unchanged by this directory's fixtures, whose `player`
runs build/<arch>/bin/layercode-player under qemu against the native devserver.

Importing a test function into this module makes pytest collect it here with the fixtures
of tests/cross (conftest.py): the same test body, parametrized over the architecture.
"""

from integration.test_player import (  # noqa: F401  (collected here)
    test_echo_session_over_tls, test_echo_session_over_ws)
