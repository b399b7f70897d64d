"""Widgets of the training monitor UI."""

from .alerts import AlertsPanel
from .charts import Chart, render_chart
from .detail import LayerDetail
from .layer_table import LayerTable
from .status_bar import StatusBar

__all__ = ["AlertsPanel", "Chart", "LayerDetail", "LayerTable", "StatusBar", "render_chart"]
