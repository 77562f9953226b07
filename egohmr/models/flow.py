"""Conditional Glow over the 24x6D body pose (stage 1 "ProHMR-scene", reference-egohmr.md section 2).

The flow maps a pose ``x`` (B, 144) (24 joints x 6D, ProHMR ``"col"`` order, joint 0 = global orientation in the PV
camera frame) to a latent ``z`` (B, 144) with base distribution N(0, I_144), conditioned on a context vector ``c``
(B, C) (official C = 2566). Notation used below:

    x = pose_6d (data), z = latent (noise), f = forward (data -> noise) transform, f^-1 = inverse (noise -> data)
    log p(x | c) = log N(f(x; c); 0, I) + log |det df/dx|                                  (change of variables)
    f = T_11 o ... o T_1 o T_0, with, for each of the 4 layers l, T_3l = ActNorm, T_3l+1 = LULinear,
    T_3l+2 = AdditiveCoupling.

Layers (all log|det| are per batch row, shape (B,)):

* ActNorm:        y = exp(s) * x + b;                              log|det| = sum(s)
* LULinear:       y = L U x + bias, L unit lower-triangular, U upper-triangular with
                  diag(U) = softplus(d) + eps (eps = 1e-3);          log|det| = sum(log diag(U))
* AdditiveCoupling: split x into an identity half x_id and a transformed half x_tr (alternating even / odd dims),
                  y_id = x_id, y_tr = x_tr + g([x_id, c]);          log|det| = 0
  g = residual MLP: Linear(72 + C -> H), 2 x [BN, ReLU, Linear, BN, ReLU, Dropout(0.5), Linear] + skip,
  Linear(H -> 72). The context enters only at g's input.

Couplings 0 and 2 (transforms 2 and 8) pass the even dims through and transform the odd ones; couplings 1 and 3
(transforms 5 and 11) do the opposite.

State-dict layout = the official ``SMPLFlow`` (nflows fork ``ConditionalGlow`` + ``FCHead``), so that an official
stage-1 checkpoint loads strictly after removing its ``flow.`` prefix (see ``docs/models_stage1.md``)::

    flow._transform.dummy_buffer
    flow._transform._transforms.{0,3,6,9}.{log_scale, shift, dummy_buffer, initialized}
    flow._transform._transforms.{1,4,7,10}.{bias, lower_entries, upper_entries, unconstrained_upper_diag, dummy_buffer}
    flow._transform._transforms.{2,5,8,11}.{dummy_buffer, identity_features, transform_features}
    flow._transform._transforms.{2,5,8,11}.transform_net.{initial_layer, blocks.{0,1}.{batch_norm_layers.{0,1},
        linear_layers.{0,1}}, final_layer}.*
    fc_head.{init_cam, init_betas, layers.0.*, layers.2.*}

The ``dummy_buffer`` scalars (value 1.0) are kept only so that the key set equals the official one; they never
enter a computation.

Parity note (golden ``stage1_flow.npz``): every layer output, the latent and the LU / coupling log-determinants
agree bit for bit with the official float64 run. The official code (nflows fork) rounds two things to float32 even
in a float64 run: each ActNorm log|det| (a float32 ``ones(B)`` times the float64 sum) and the running total of
log|det| over the transforms (a float32 accumulator). We keep everything in the input dtype instead; the official
float64 log-probabilities are therefore reproduced to about 1e-6 absolute (values about 350), and exactly once those
two roundings are re-applied (see ``tests/models/test_flow.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from egohmr.constants import POSE_6D_DIM
from egohmr.models.heads import FCHead

__all__ = [
    "ActNorm",
    "AdditiveCoupling",
    "ConditionalGlow",
    "FlowSample",
    "FlowTrace",
    "LULinear",
    "ResidualBlock",
    "ResidualNet",
    "SMPLFlow",
    "SMPLFlowSample",
    "actnorm_forward",
    "actnorm_inverse",
    "lu_factors",
    "standard_normal_log_prob",
]

# ------------------------------------------------------------------------------------------------------------------
# Pure functions
# ------------------------------------------------------------------------------------------------------------------


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension.

    Args:
        z: (..., D) float.

    Returns:
        (...) float: ``-0.5 * |z|^2 - 0.5 * D * log(2 pi)``.
    """
    d = z.shape[-1]
    return -0.5 * (z * z).sum(dim=-1) - 0.5 * d * math.log(2.0 * math.pi)


def actnorm_forward(x: torch.Tensor, log_scale: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ActNorm, data -> noise: ``y = exp(log_scale) * x + shift``.

    Args:
        x: (B, D) float.
        log_scale: (D,) float, s.
        shift: (D,) float, b.

    Returns:
        y: (B, D) float.
        logabsdet: (B,) float, ``sum(log_scale)`` for every row.
    """
    y = torch.exp(log_scale) * x + shift
    return y, log_scale.sum().expand(x.shape[0])


def actnorm_inverse(y: torch.Tensor, log_scale: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ActNorm, noise -> data: ``x = (y - shift) * exp(-log_scale)``.

    Returns:
        x: (B, D) float.
        logabsdet: (B,) float, ``-sum(log_scale)`` (log|det| of the inverse map).
    """
    x = (y - shift) * torch.exp(-log_scale)
    return x, (-log_scale.sum()).expand(y.shape[0])


def lu_factors(
    lower_entries: torch.Tensor, upper_entries: torch.Tensor, unconstrained_upper_diag: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Build the LU factors of the LULinear weight ``W = L U``.

    The strictly-lower entries fill L row by row (``(1,0), (2,0), (2,1), (3,0), ...``), the strictly-upper entries
    fill U row by row (``(0,1), (0,2), ..., (1,2), ...``): the order of ``numpy.tril_indices(D, -1)`` /
    ``triu_indices(D, 1)``.

    Args:
        lower_entries: (D(D-1)/2,) float.
        upper_entries: (D(D-1)/2,) float.
        unconstrained_upper_diag: (D,) float, d.
        eps: lower bound on the diagonal of U.

    Returns:
        lower: (D, D) float, unit diagonal.
        upper: (D, D) float, diagonal ``softplus(d) + eps``.
        upper_diag: (D,) float, that diagonal.
    """
    d = unconstrained_upper_diag.shape[0]
    device = unconstrained_upper_diag.device
    rows_l, cols_l = torch.tril_indices(d, d, offset=-1, device=device)
    rows_u, cols_u = torch.triu_indices(d, d, offset=1, device=device)
    eye = torch.eye(d, dtype=lower_entries.dtype, device=device)
    lower = eye.index_put((rows_l, cols_l), lower_entries)  # (D, D)
    upper_diag = F.softplus(unconstrained_upper_diag) + eps  # (D,)
    upper = torch.diag(upper_diag).index_put((rows_u, cols_u), upper_entries)  # (D, D)
    return lower, upper, upper_diag


def _check_2d(x: torch.Tensor, features: int, name: str) -> None:
    if x.ndim != 2 or x.shape[1] != features:
        raise ValueError(f"{name} must have shape (B, {features}), got {tuple(x.shape)}")


# ------------------------------------------------------------------------------------------------------------------
# Transforms (parameter holders). Each maps data -> noise in `forward` and noise -> data in `inverse`, both
# returning (outputs (B, D), logabsdet (B,)).
# ------------------------------------------------------------------------------------------------------------------


class _Transform(nn.Module):
    """Base class: holds the official (unused) ``dummy_buffer`` so the state-dict keys match nflows'."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("dummy_buffer", torch.tensor(1.0))


class ActNorm(_Transform):
    """Per-feature affine normalisation with data-dependent initialisation.

    On the first ``forward`` in training mode while ``initialized`` is False, ``log_scale`` and ``shift`` are set
    from the batch so that the outputs have zero mean and unit (unbiased) std per feature:
    ``log_scale = -log std(x)``, ``shift = -mean(x / std(x))``. Loading a state dict with ``initialized=True``
    disables this.

    Args:
        features: D.
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = features
        self.log_scale = nn.Parameter(torch.zeros(features))
        self.shift = nn.Parameter(torch.zeros(features))
        self.register_buffer("initialized", torch.tensor(False, dtype=torch.bool))

    @torch.no_grad()
    def initialize_from(self, x: torch.Tensor) -> None:
        """Data-dependent initialisation from a batch ``x`` (B, D), B >= 2."""
        if x.shape[0] < 2:
            raise ValueError(f"ActNorm data-dependent init needs a batch of at least 2 rows, got {x.shape[0]}")
        std = x.std(dim=0)  # (D,)
        mu = (x / std).mean(dim=0)  # (D,)
        self.log_scale.copy_(-torch.log(std))
        self.shift.copy_(-mu)
        self.initialized.fill_(True)

    def forward(self, inputs: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Data -> noise. inputs (B, D) -> (outputs (B, D), logabsdet (B,)). ``context`` is ignored."""
        if self.training and not bool(self.initialized):
            self.initialize_from(inputs)
        return actnorm_forward(inputs, self.log_scale, self.shift)

    def inverse(self, inputs: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise -> data. inputs (B, D) -> (outputs (B, D), logabsdet (B,)). ``context`` is ignored."""
        return actnorm_inverse(inputs, self.log_scale, self.shift)

    def extra_repr(self) -> str:
        return f"features={self.features}"


class LULinear(_Transform):
    """Invertible linear map ``y = L U x + bias`` in the LU parameterisation (identity at initialisation).

    Args:
        features: D.
        eps: lower bound of U's diagonal, ``diag(U) = softplus(d) + eps`` (official 1e-3).
    """

    def __init__(self, features: int, eps: float = 1e-3) -> None:
        super().__init__()
        self.features = features
        self.eps = eps
        n_tri = features * (features - 1) // 2
        self.bias = nn.Parameter(torch.zeros(features))
        self.lower_entries = nn.Parameter(torch.zeros(n_tri))
        self.upper_entries = nn.Parameter(torch.zeros(n_tri))
        # softplus(d) + eps = 1  <=>  d = log(exp(1 - eps) - 1): W = I at initialisation.
        self.unconstrained_upper_diag = nn.Parameter(torch.full((features,), math.log(math.expm1(1.0 - eps))))

    def factors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(L (D, D), U (D, D), diag(U) (D,)); see ``lu_factors``."""
        return lu_factors(self.lower_entries, self.upper_entries, self.unconstrained_upper_diag, self.eps)

    def weight(self) -> torch.Tensor:
        """The (D, D) matrix ``W = L U``."""
        lower, upper, _ = self.factors()
        return lower @ upper

    def logabsdet(self) -> torch.Tensor:
        """Scalar ``log|det W| = sum(log diag(U))``."""
        return torch.log(F.softplus(self.unconstrained_upper_diag) + self.eps).sum()

    def forward(self, inputs: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Data -> noise: ``y = L (U x) + bias``. inputs (B, D) -> (outputs (B, D), logabsdet (B,))."""
        lower, upper, upper_diag = self.factors()
        outputs = F.linear(F.linear(inputs, upper), lower, self.bias)  # (B, D)
        return outputs, torch.log(upper_diag).sum().expand(inputs.shape[0])

    def inverse(self, inputs: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise -> data: solve ``L U x = y - bias`` by two triangular solves."""
        lower, upper, upper_diag = self.factors()
        rhs = (inputs - self.bias).T  # (D, B)
        tmp = torch.linalg.solve_triangular(lower, rhs, upper=False, unitriangular=True)  # (D, B)
        outputs = torch.linalg.solve_triangular(upper, tmp, upper=True).T  # (B, D)
        return outputs, (-torch.log(upper_diag).sum()).expand(inputs.shape[0])

    def extra_repr(self) -> str:
        return f"features={self.features}, eps={self.eps}"


class ResidualBlock(nn.Module):
    """Pre-activation residual block: ``x + W2 drop(relu(BN2(W1 relu(BN1 x))))``.

    Args:
        features: H.
        dropout: dropout probability before the second linear layer (official 0.5).
        bn_eps: BatchNorm epsilon (official 1e-5, the torch default).

    The second linear layer starts near zero (uniform in +-1e-3), so the block starts close to the identity.
    """

    def __init__(self, features: int, dropout: float = 0.5, bn_eps: float = 1e-5) -> None:
        super().__init__()
        self.batch_norm_layers = nn.ModuleList([nn.BatchNorm1d(features, eps=bn_eps) for _ in range(2)])
        self.linear_layers = nn.ModuleList([nn.Linear(features, features) for _ in range(2)])
        self.dropout = nn.Dropout(dropout)
        nn.init.uniform_(self.linear_layers[1].weight, -1e-3, 1e-3)
        nn.init.uniform_(self.linear_layers[1].bias, -1e-3, 1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H) -> (B, H)."""
        h = self.linear_layers[0](torch.relu(self.batch_norm_layers[0](x)))
        h = self.dropout(torch.relu(self.batch_norm_layers[1](h)))
        return x + self.linear_layers[1](h)


class ResidualNet(nn.Module):
    """Coupling conditioner ``g([x_id, c])``: Linear(in + C -> H), residual blocks, Linear(H -> out).

    Args:
        in_features: size of x_id.
        out_features: size of the produced shift.
        hidden_features: H (official 1024).
        context_features: C (official 2566); concatenated to the input only.
        num_blocks: residual blocks (official 2).
        dropout: dropout probability in each block (official 0.5).
        bn_eps: BatchNorm epsilon.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_features: int,
        context_features: int,
        num_blocks: int = 2,
        dropout: float = 0.5,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.initial_layer = nn.Linear(in_features + context_features, hidden_features)
        self.blocks = nn.ModuleList(
            [ResidualBlock(hidden_features, dropout=dropout, bn_eps=bn_eps) for _ in range(num_blocks)]
        )
        self.final_layer = nn.Linear(hidden_features, out_features)

    def forward(self, inputs: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """inputs (B, in), context (B, C) -> (B, out)."""
        h = self.initial_layer(torch.cat([inputs, context], dim=1))  # (B, H)
        for block in self.blocks:
            h = block(h)
        return self.final_layer(h)


class AdditiveCoupling(_Transform):
    """Additive coupling ``y_id = x_id, y_tr = x_tr + g([x_id, c])`` (log|det| = 0).

    Args:
        features: D (even).
        identity_even: True: even dims are the identity half and odd dims are transformed; False: the opposite.
        transform_net: the conditioner g, mapping (B, D/2) and context (B, C) to (B, D/2).
    """

    def __init__(self, features: int, identity_even: bool, transform_net: nn.Module) -> None:
        super().__init__()
        idx = torch.arange(features)
        first = 0 if identity_even else 1
        self.register_buffer("identity_features", idx[first::2].clone())
        self.register_buffer("transform_features", idx[1 - first :: 2].clone())
        self.transform_net = transform_net

    def _shift(self, x: torch.Tensor, context: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if context is None:
            raise ValueError("AdditiveCoupling needs a context tensor (B, C)")
        x_id = x[:, self.identity_features]  # (B, D/2)
        return x_id, self.transform_net(x_id, context)  # (B, D/2)

    def _merge(self, x_id: torch.Tensor, x_tr: torch.Tensor) -> torch.Tensor:
        out = torch.empty(x_id.shape[0], x_id.shape[1] + x_tr.shape[1], dtype=x_id.dtype, device=x_id.device)
        out[:, self.identity_features] = x_id
        out[:, self.transform_features] = x_tr
        return out  # (B, D)

    def forward(self, inputs: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Data -> noise. inputs (B, D), context (B, C) -> (outputs (B, D), logabsdet (B,) zeros)."""
        x_id, shift = self._shift(inputs, context)
        y_tr = inputs[:, self.transform_features] + shift
        return self._merge(x_id, y_tr), inputs.new_zeros(inputs.shape[0])

    def inverse(self, inputs: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise -> data. inputs (B, D), context (B, C) -> (outputs (B, D), logabsdet (B,) zeros)."""
        y_id, shift = self._shift(inputs, context)
        x_tr = inputs[:, self.transform_features] - shift
        return self._merge(y_id, x_tr), inputs.new_zeros(inputs.shape[0])


class _CompositeTransform(nn.Module):
    """Ordered list of transforms (official name ``_transform`` holding ``_transforms``)."""

    def __init__(self, transforms: list[_Transform]) -> None:
        super().__init__()
        self.register_buffer("dummy_buffer", torch.tensor(1.0))
        self._transforms = nn.ModuleList(transforms)


# ------------------------------------------------------------------------------------------------------------------
# The flow
# ------------------------------------------------------------------------------------------------------------------


@dataclass
class FlowTrace:
    """Data -> noise pass with every intermediate result.

    Attributes:
        z: (B, D) float latent f(x).
        logabsdet: (B,) float, sum over layers of log|det df_i/dx|.
        layer_outputs: (L, B, D) float, the output after each transform (L = 3 x num_layers).
        layer_logabsdet: (L, B) float, each transform's log|det|.
    """

    z: torch.Tensor
    logabsdet: torch.Tensor
    layer_outputs: torch.Tensor
    layer_logabsdet: torch.Tensor


@dataclass
class FlowSample:
    """Samples of the conditional flow. Index 0 along S is always the mode (z = 0).

    Attributes:
        pose_6d: (B, S, D) float samples (stage 1: 24 x 6D, ``"col"`` order).
        log_prob: (B, S) float log-density of each sample.
        z: (B, S, D) float latents used (``z[:, 0] = 0``).
    """

    pose_6d: torch.Tensor
    log_prob: torch.Tensor
    z: torch.Tensor


class ConditionalGlow(nn.Module):
    """Conditional Glow: ``num_layers`` x (ActNorm, LULinear, AdditiveCoupling), base N(0, I_D).

    Args:
        features: D (official 144 = 24 joints x 6D).
        hidden_features: conditioner width H (official 1024).
        num_layers: Glow layers (official 4, i.e. 12 transforms).
        num_blocks_per_layer: residual blocks per conditioner (official 2).
        context_features: C (official 2566).
        dropout: conditioner dropout probability (official 0.5, active in training mode only).
        bn_eps: conditioner BatchNorm epsilon (official 1e-5, the torch default).
        lu_eps: LULinear diagonal lower bound (official 1e-3).
    """

    def __init__(
        self,
        features: int = POSE_6D_DIM,
        hidden_features: int = 1024,
        num_layers: int = 4,
        num_blocks_per_layer: int = 2,
        context_features: int = 2566,
        dropout: float = 0.5,
        bn_eps: float = 1e-5,
        lu_eps: float = 1e-3,
    ) -> None:
        super().__init__()
        if features % 2 != 0:
            raise ValueError(f"features must be even for the alternating coupling masks, got {features}")
        self.features = features
        self.context_features = context_features
        transforms: list[_Transform] = []
        for layer in range(num_layers):
            net = ResidualNet(
                features // 2,
                features // 2,
                hidden_features,
                context_features,
                num_blocks=num_blocks_per_layer,
                dropout=dropout,
                bn_eps=bn_eps,
            )
            transforms += [
                ActNorm(features),
                LULinear(features, eps=lu_eps),
                AdditiveCoupling(features, identity_even=(layer % 2 == 0), transform_net=net),
            ]
        self._transform = _CompositeTransform(transforms)

    @property
    def transforms(self) -> nn.ModuleList:
        """The L transforms in data -> noise order."""
        return self._transform._transforms

    def _check_inputs(self, x: torch.Tensor, context: torch.Tensor) -> None:
        _check_2d(x, self.features, "pose_6d")
        _check_2d(context, self.context_features, "context")
        if context.shape[0] != x.shape[0]:
            raise ValueError(f"pose_6d and context batch sizes differ: {x.shape[0]} vs {context.shape[0]}")

    def trace(self, pose_6d: torch.Tensor, context: torch.Tensor) -> FlowTrace:
        """Data -> noise pass keeping every layer's output (for tests and diagnostics).

        Args:
            pose_6d: (B, D) float data x.
            context: (B, C) float conditioning vector.

        Returns:
            FlowTrace with z (B, D), logabsdet (B,), layer_outputs (L, B, D), layer_logabsdet (L, B).
        """
        self._check_inputs(pose_6d, context)
        outputs, dets = [], []
        h = pose_6d
        for transform in self.transforms:
            h, det = transform(h, context)
            outputs.append(h)
            dets.append(det)
        layer_logabsdet = torch.stack(dets)  # (L, B)
        return FlowTrace(
            z=h, logabsdet=layer_logabsdet.sum(0), layer_outputs=torch.stack(outputs), layer_logabsdet=layer_logabsdet
        )

    def transform_to_noise(self, pose_6d: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data -> noise: ``z = f(x; c)``.

        Args:
            pose_6d: (B, D) float.
            context: (B, C) float.

        Returns:
            z: (B, D) float latent.
            logabsdet: (B,) float ``log|det df/dx|``.
        """
        self._check_inputs(pose_6d, context)
        h = pose_6d
        total = pose_6d.new_zeros(pose_6d.shape[0])
        for transform in self.transforms:
            h, det = transform(h, context)
            total = total + det
        return h, total

    def log_prob(self, pose_6d: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """``log p(x | c) = log N(f(x; c)) + log|det df/dx|``.

        Args:
            pose_6d: (B, D) float data x.
            context: (B, C) float.

        Returns:
            (B,) float log-density.
        """
        z, logabsdet = self.transform_to_noise(pose_6d, context)
        return standard_normal_log_prob(z) + logabsdet

    def transform_to_data(self, z: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise -> data: ``x = f^-1(z; c)``.

        Args:
            z: (N, D) float latents.
            context: (N, C) float.

        Returns:
            x: (N, D) float.
            logabsdet: (N,) float ``log|det df^-1/dz|`` (= minus the forward log|det| at x).
        """
        self._check_inputs(z, context)
        h = z
        total = z.new_zeros(z.shape[0])
        for transform in reversed(self.transforms):
            h, det = transform.inverse(h, context)
            total = total + det
        return h, total

    def sample(
        self,
        context: torch.Tensor,
        num_samples: int,
        z: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> FlowSample:
        """Draw ``num_samples`` poses per context row in one batched inverse pass; sample 0 is the mode (z = 0).

        Args:
            context: (B, C) float.
            num_samples: S >= 1, the mode included.
            z: optional (B, S - 1, D) float latents for the non-mode samples; drawn from N(0, I) with
                ``generator`` when None.
            generator: torch.Generator for the draw (on the context's device).

        Returns:
            FlowSample with pose_6d (B, S, D), log_prob (B, S) = log N(z) - log|det df^-1/dz|, z (B, S, D).
        """
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        _check_2d(context, self.context_features, "context")
        b, d = context.shape[0], self.features
        if z is None:
            z_rand = torch.randn(
                (b, num_samples - 1, d), generator=generator, dtype=context.dtype, device=context.device
            )
        else:
            if tuple(z.shape) != (b, num_samples - 1, d):
                raise ValueError(
                    f"z holds the non-mode latents and must have shape (B, S - 1, D) = {(b, num_samples - 1, d)},"
                    f" got {tuple(z.shape)}"
                )
            z_rand = z.to(dtype=context.dtype)
        z_all = torch.cat([z_rand.new_zeros(b, 1, d), z_rand], dim=1)  # (B, S, D)
        ctx = context.repeat_interleave(num_samples, dim=0)  # (B*S, C): row b repeated S times
        x, logabsdet_inv = self.transform_to_data(z_all.reshape(b * num_samples, d), ctx)  # (B*S, D), (B*S,)
        log_prob = standard_normal_log_prob(z_all).reshape(b * num_samples) - logabsdet_inv  # (B*S,)
        return FlowSample(pose_6d=x.reshape(b, num_samples, d), log_prob=log_prob.reshape(b, num_samples), z=z_all)

    def extra_repr(self) -> str:
        return f"features={self.features}, context_features={self.context_features}"


# ------------------------------------------------------------------------------------------------------------------
# Flow + FC head (official SMPLFlow key layout)
# ------------------------------------------------------------------------------------------------------------------


@dataclass
class SMPLFlowSample:
    """Stage-1 samples: pose from the flow, betas and crop camera from the FC head. Index 0 along S is the mode.

    Attributes:
        pose_6d: (B, S, 144) float, 24 x 6D in ``"col"`` (ProHMR) order; joint 0 = global orientation (PV frame).
        log_prob: (B, S) float flow log-density of each pose.
        z: (B, S, 144) float latents (``z[:, 0] = 0``).
        betas: (B, S, 10) float SMPL shape (independent of z: identical along S).
        cam_crop: (B, S, 3) float weak-perspective crop camera ``[s, tx, ty]`` (identical along S).
    """

    pose_6d: torch.Tensor
    log_prob: torch.Tensor
    z: torch.Tensor
    betas: torch.Tensor
    cam_crop: torch.Tensor


class SMPLFlow(nn.Module):
    """Conditional Glow over 24x6D pose plus the FC head for betas and crop camera (official ``SMPLFlow`` keys).

    Args:
        context_features: C (official 2566 = 2 + 3 + 1 + 2048 + 512).
        features: pose size D (144).
        hidden_features: conditioner width (1024).
        num_layers: Glow layers (4).
        num_blocks_per_layer: residual blocks per conditioner (2).
        head_hidden: FC head hidden size (1024).
        dropout: conditioner dropout (0.5).
    """

    def __init__(
        self,
        context_features: int = 2566,
        features: int = POSE_6D_DIM,
        hidden_features: int = 1024,
        num_layers: int = 4,
        num_blocks_per_layer: int = 2,
        head_hidden: int = 1024,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.flow = ConditionalGlow(
            features=features,
            hidden_features=hidden_features,
            num_layers=num_layers,
            num_blocks_per_layer=num_blocks_per_layer,
            context_features=context_features,
            dropout=dropout,
        )
        self.fc_head = FCHead(context_features=context_features, hidden_features=head_hidden)

    def log_prob(self, pose_6d: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """(B, 144) pose, (B, C) context -> (B,) log-density; see ``ConditionalGlow.log_prob``."""
        return self.flow.log_prob(pose_6d, context)

    def sample(
        self,
        context: torch.Tensor,
        num_samples: int,
        z: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> SMPLFlowSample:
        """Mode plus ``num_samples - 1`` random poses per row, with the head's betas and camera.

        Args:
            context: (B, C) float.
            num_samples: S >= 1.
            z: optional (B, S - 1, 144) latents of the non-mode samples.
            generator: RNG for the latents when ``z`` is None.

        Returns:
            SMPLFlowSample (see its fields).
        """
        fs = self.flow.sample(context, num_samples, z=z, generator=generator)
        head = self.fc_head(context, num_samples)
        return SMPLFlowSample(
            pose_6d=fs.pose_6d, log_prob=fs.log_prob, z=fs.z, betas=head.betas, cam_crop=head.cam_crop
        )
