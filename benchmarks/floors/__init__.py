"""fraud-api's floors: the least a service answering POST /api/v1/score can do, served like fraud-api.

``benchmarks/goodput.py`` measures fraud-api beside them in the same run, so its figures are ratios
that survive the machine's drift: what fraud-api costs above HTTP alone (``http``) and above HTTP
plus its two statements (``db``).
"""
