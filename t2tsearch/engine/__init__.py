"""The engine: the side that trains. It runs a search (`search/`, with the cost-aware `sampler/`,
the quota gate `quota` and the early-stopping scheduler `pareto_asha`), trains one proposal
(`trainable` on Ray, `evaluator`, `train`, `data` and `batches`), and re-trains a run's front
(`confirm`), writing the run directory through `t2tsearch.results`. Nothing on the reading side
(`t2tsearch.results`, `report/`, `export`, `fidelity`) imports it.
"""
