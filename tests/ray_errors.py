"""Ray's errors as Tune writes them to a trial's error.txt, for the tests of what a search
makes of them (t2tsearch.engine.worker_loss): each captured from a Tune 2.60 run, unless it says."""

# error.txt as Tune 2.60 wrote it for a trial whose worker process got `kill -9`.
KILLED = """Failure # 1 (occurred at 2026-12-04_17-58-46)
The actor died unexpectedly before finishing this task.
\tclass_name: ImplicitFunc
\tactor_id: 8e71e5ec0628cc065bdb290d01000000
\tpid: 17041
\tnamespace: 8256d15d-48bb-4b61-99d8-e2c8c6632e04
\tip: 192.0.2.2
The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR Worker \
exit detail: Worker unexpectedly exits with a connection error code 2. End of file. Some common \
causes include: (1) the process was killed by the OOM killer due to high memory usage, (2) ray \
stop --force was called, or (3) the worker crashed unexpectedly due to SIGSEGV or another \
unexpected error.
"""
# ... for a trial whose node was removed (ray.cluster_utils.Cluster.remove_node).
NODE_LOST = """Failure # 1 (occurred at 2026-12-04_18-00-22)
The actor died unexpectedly before finishing this task.
\tclass_name: ImplicitFunc
\tactor_id: 22d07dfb353713e5823e1e6901000000
\tpid: 18298
\tnamespace: 805856ea-56e0-4d50-9363-ae650a0a3d60
\tip: 192.0.2.2
The actor died because its node has died. Node Id: \
fe68cd53806106dbdefe8ab4c056e43af68ab8bcda96f7506ec7bed2
\tthe actor's node was terminated expectedly: received SIGTERM
"""
# ... for a trial that raised, whose message happens to speak of a node that died.
RAISED = """Failure # 1 (occurred at 2026-12-04_18-03-26)
\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=19691, ip=192.0.2.2, \
actor_id=e9473cd4f237bd0d11bbadab01000000, repr=train)
  File "/tmp/exp/raise.py", line 8, in train
    raise ValueError("its node has died of boredom")
ValueError: its node has died of boredom
"""
# Ray's memory monitor: not captured; the exit type and detail as Ray 2.60's worker exit writes them.
MEMORY_MONITOR = """Failure # 1 (occurred at 2026-12-04_18-10-00)
The actor died unexpectedly before finishing this task.
\tclass_name: ImplicitFunc
The actor is dead because its worker process has died. Worker exit type: NODE_OUT_OF_MEMORY \
Worker exit detail: Task was killed due to the node running low on memory.
"""
# An actor whose creation raised: not captured; the opening as Ray 2.41 and 2.60 word it.
CREATION_RAISED = """Failure # 1 (occurred at 2026-12-04_18-10-00)
The actor died because of an error raised in its creation task, ray::ImplicitFunc.__init__()
ImportError: cannot import name 'x'
"""
