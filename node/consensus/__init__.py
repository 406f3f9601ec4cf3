"""QBFT consensus as a pure state machine, after Besu's qbft-core and the Consensys Dafny model.

Everything here is sans-io: `state.step(state, event, now)` returns the next state and the actions
a driver must carry out. Only `driver.py` touches the clock, files and the network; the simulation
drives the very same `step` with a seeded scheduler.
"""
