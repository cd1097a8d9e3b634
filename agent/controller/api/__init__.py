"""Neutron's v2.0 REST API over the controller's Plugin (Flask)."""

from agent.controller.api.app import create_app

__all__ = ['create_app']
