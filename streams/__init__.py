"""Events in: the contract, decoding, dead letters and the Faust agent that folds events into KPI state."""
