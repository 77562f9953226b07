"""moderngl backend on a headless EGL context (see `egohmr.render`).

One pass writes two targets: RGBA8 colour and RG32F (camera z in metres, object id + 1). The projection maps
OpenCV pixel centres exactly: ``x_ndc = 2 (u + 0.5) / W - 1`` and ``y_ndc = 2 (v + 0.5) / H - 1``, so framebuffer
row 0 is image row 0 and no flip is needed on read-back (the triangle winding flips; culling is off).
"""

from __future__ import annotations

import numpy as np

from egohmr.render.scene import FAR_M, NEAR_M, PreparedScene, RenderOutput

_VERTEX_SHADER = """
#version 330
uniform vec4 intr;   // fx, fy, cx, cy (px)
uniform vec2 size;   // W, H (px)
uniform vec2 nearfar;
in vec3 in_pos;      // camera frame, OpenCV axes
in vec3 in_color;
in float in_id;
out vec3 v_color;
out float v_depth;
flat out float v_id;
void main() {
    float z = in_pos.z;
    float n = nearfar.x;
    float f = nearfar.y;
    float xc = (2.0 * intr.x * in_pos.x + (2.0 * intr.z + 1.0 - size.x) * z) / size.x;
    float yc = (2.0 * intr.y * in_pos.y + (2.0 * intr.w + 1.0 - size.y) * z) / size.y;
    float zc = ((f + n) * z - 2.0 * f * n) / (f - n);
    gl_Position = vec4(xc, yc, zc, z);
    v_color = in_color;
    v_depth = z;
    v_id = in_id;
}
"""

_FRAGMENT_SHADER = """
#version 330
in vec3 v_color;
in float v_depth;
flat in float v_id;
layout(location = 0) out vec4 out_color;
layout(location = 1) out vec2 out_depth_id;
void main() {
    out_color = vec4(v_color, 1.0);
    out_depth_id = vec2(v_depth, v_id + 1.0);
}
"""


class EGLRenderer:
    """Holds a moderngl EGL context, the shader program and one framebuffer per image size.

    Create it inside the process that renders (after ``fork``).

    Raises:
        ImportError: moderngl missing. Exception: the EGL context cannot be created.
    """

    def __init__(self) -> None:
        import moderngl

        self._mgl = moderngl
        self.ctx = moderngl.create_standalone_context(backend="egl")
        self.prog = self.ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        self._fbos: dict[tuple[int, int], object] = {}

    def _fbo(self, width: int, height: int):
        key = (width, height)
        if key not in self._fbos:
            color = self.ctx.texture((width, height), 4, dtype="f1")
            depth_id = self.ctx.texture((width, height), 2, dtype="f4")
            depth = self.ctx.depth_renderbuffer((width, height))
            self._fbos[key] = (self.ctx.framebuffer([color, depth_id], depth), color, depth_id)
        return self._fbos[key]

    def render(self, scene: PreparedScene, K: tuple[float, float, float, float], width: int, height: int):
        """Draw a prepared scene; see `egohmr.render.render`."""
        fbo, color, depth_id = self._fbo(width, height)
        ctx = self.ctx
        fbo.use()
        ctx.viewport = (0, 0, width, height)
        ctx.disable(self._mgl.CULL_FACE)
        ctx.enable(self._mgl.DEPTH_TEST)
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        if len(scene.faces):
            self.prog["intr"].value = tuple(float(k) for k in K)
            self.prog["size"].value = (float(width), float(height))
            self.prog["nearfar"].value = (NEAR_M, FAR_M)
            data = np.concatenate([scene.positions_cam, scene.colors, scene.ids[:, None]], axis=1).astype(np.float32)
            vbo = ctx.buffer(data.tobytes())
            ibo = ctx.buffer(np.ascontiguousarray(scene.faces, dtype=np.uint32).tobytes())
            vao = ctx.vertex_array(
                self.prog, [(vbo, "3f 3f 1f", "in_pos", "in_color", "in_id")], index_buffer=ibo, index_element_size=4
            )
            vao.render(self._mgl.TRIANGLES)
            vao.release()
            vbo.release()
            ibo.release()
        rgb = np.frombuffer(fbo.read(components=3, attachment=0, dtype="f1", alignment=1), np.uint8)
        dz = np.frombuffer(fbo.read(components=2, attachment=1, dtype="f4"), np.float32).reshape(height, width, 2)
        obj = np.rint(dz[..., 1]).astype(np.int32) - 1
        depth = np.where(obj >= 0, dz[..., 0], np.float32(np.inf)).astype(np.float32)
        return RenderOutput(rgb=rgb.reshape(height, width, 3), depth=depth, object_id=obj)
