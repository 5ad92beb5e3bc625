"""MLflow "models from code" entry point of the signal ensemble.

MLflow stores this file with the model and runs it when loading: it declares the model
object; the weights come from the logged ``ensemble`` artifact (see pyfunc.py).
"""

import mlflow

from signal_pipeline.registry.pyfunc import EnsemblePyfunc

mlflow.models.set_model(EnsemblePyfunc())
