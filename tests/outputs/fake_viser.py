"""A small stand-in for a viser ``ViserServer``: records every call, lets tests play the browser (GUI values,
button clicks, connecting clients)."""

from __future__ import annotations

import contextlib

import numpy as np


class FakeHandle:
    def __init__(self, log, name, value=None):
        self.log, self.name, self.value = log, name, value
        self.visible, self.removed, self.callbacks, self.content = True, False, [], None

    def remove(self):
        self.removed = True
        self.log.append(("remove", self.name))

    def on_update(self, func):
        self.callbacks.append(func)
        return func

    on_click = on_update

    def set(self, value):  # what the browser does: change the value, then fire the callbacks
        self.value = value
        for cb in self.callbacks:
            cb(None)

    def click(self):
        for cb in self.callbacks:
            cb(None)


class FakeApi:
    def __init__(self, log):
        self.log, self.handles = log, {}

    def _add(self, kind, name, kwargs, value=None):
        self.log.append((kind, name, kwargs))
        self.handles[name] = FakeHandle(self.log, name, value)
        return self.handles[name]

    def set_up_direction(self, direction):
        self.log.append(("up", direction, {}))

    def add_point_cloud(self, name, points, colors, **kw):
        return self._add("points", name, {"points": points, "colors": colors, **kw})

    def add_mesh_simple(self, name, vertices, faces, **kw):
        return self._add("mesh", name, {"vertices": vertices, "faces": faces, **kw})

    def add_line_segments(self, name, points, colors, **kw):
        return self._add("lines", name, {"points": points, "colors": colors, **kw})

    def add_slider(self, label, min, max, step, initial_value, **kw):
        return self._add("slider", label, {"min": min, "max": max}, initial_value)

    def add_checkbox(self, label, initial_value, **kw):
        return self._add("checkbox", label, {}, initial_value)

    def add_number(self, label, initial_value, **kw):
        return self._add("number", label, kw, initial_value)

    def add_button(self, label, **kw):
        return self._add("button", label, {})

    def add_markdown(self, content, **kw):
        return self._add("markdown", "markdown", {})


class FakeCamera:
    def __init__(self):
        self.position = np.zeros(3)
        self.look_at = np.array([0.0, 0.0, -1.0])
        self.up_direction = np.array([0.0, 1.0, 0.0])
        self.fov, self.near = 1.0, 0.01


class FakeClient:
    def __init__(self):
        self.camera = FakeCamera()

    def atomic(self):
        return contextlib.nullcontext()


class FakeServer:
    def __init__(self):
        self.log = []
        self.scene = FakeApi(self.log)
        self.gui = FakeApi(self.log)
        self.clients: dict[int, FakeClient] = {}
        self.connect_callbacks = []

    def on_client_connect(self, func):
        self.connect_callbacks.append(func)
        return func

    def get_clients(self):
        return dict(self.clients)

    def connect(self) -> FakeClient:
        """A browser connects (viser calls the callbacks after the client's first camera message)."""
        client = FakeClient()
        self.clients[len(self.clients)] = client
        for cb in self.connect_callbacks:
            cb(client)
        return client
