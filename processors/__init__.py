"""Stream processors (faust-streaming): session and tool-call state, statistics, handler plugins.

Depends on ``schemas`` (the contract) and ``sessionflow`` core only.
"""
