"""Market data: contracts, validation, the simulator, file loaders and storage.

Names are resolved lazily so importing one piece does not import all of them
(the simulator and storage pull in heavier dependencies than the contracts do).
"""

from __future__ import annotations

from signal_pipeline._lazy import lazy_exports

_EXPORTS = {
    "BarDataError": "signal_pipeline.data.validation",
    "DataContractError": "signal_pipeline.data.validation",
    "DataQuarantineWarning": "signal_pipeline.data.validation",
    "check_quotes": "signal_pipeline.data.validation",
    "check_option_chains": "signal_pipeline.data.validation",
    "TableCheck": "signal_pipeline.data.validation",
    "OPTIONAL_BAR_COLUMNS": "signal_pipeline.data.contracts",
    "ingest_files": "signal_pipeline.data.loaders",
    "IngestResult": "signal_pipeline.data.loaders",
    "OptionChainError": "signal_pipeline.data.validation",
    "QuoteDataError": "signal_pipeline.data.validation",
    "validate_bars": "signal_pipeline.data.validation",
    "check_bars": "signal_pipeline.data.validation",
    "validate_option_chains": "signal_pipeline.data.validation",
    "validate_quotes": "signal_pipeline.data.validation",
    "BarCheck": "signal_pipeline.data.validation",
    "BAR_COLUMNS": "signal_pipeline.data.contracts",
    "QUOTE_COLUMNS": "signal_pipeline.data.contracts",
    "OPTION_COLUMNS": "signal_pipeline.data.contracts",
    "read_bars": "signal_pipeline.data.loaders",
    "read_option_chains": "signal_pipeline.data.loaders",
    "read_quotes": "signal_pipeline.data.loaders",
    "simulate_market": "signal_pipeline.data.simulator",
    "SimulatedMarket": "signal_pipeline.data.simulator",
    "SimulatorConfig": "signal_pipeline.data.sim_config",
    "SimulatorInputError": "signal_pipeline.data.sim_config",
    "Warehouse": "signal_pipeline.data.storage",
}

__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
