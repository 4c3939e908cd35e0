"""The Hub Space of this metric: a gradio widget over the module in this folder."""

import os

import evaluate
from evaluate.utils import launch_gradio_widget

launch_gradio_widget(evaluate.load(os.path.dirname(os.path.abspath(__file__))))
