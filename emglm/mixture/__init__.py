"""The numerical model of a finite mixture, behind three interfaces.

* :class:`Component` (:mod:`emglm.mixture.component`): one kind of component; here
  :class:`GLMComponent` (statsmodels families) and :class:`PointMass`; a new kind is one
  module (:class:`SimpleComponent` helps); :class:`DesignGroup` gives components designs of
  their own (one formula per component) and coefficients shared among some of them.
* :class:`Mixing` (:mod:`emglm.mixture.mixing`): equal, constant or concomitant proportions.
* :class:`Rows` (:mod:`emglm.mixture.rows`): the data in blocks and an ordered map-reduce.

:class:`Mixture` combines them into the E-step, the M-step and the EM map.
"""

from .component import Component, ComponentFamily, Evaluation, SimpleComponent
from .core import EStep, Mixture
from .glm import GLMComponent
from .mixing import ConcomitantMixing, ConstantMixing, EqualMixing, Mixing, make_mixing
from .own_design import DesignGroup
from .pointmass import PointMass
from .rows import Rows

__all__ = ["Component", "ComponentFamily", "Evaluation", "SimpleComponent", "Mixture", "EStep", "GLMComponent",
           "PointMass", "Mixing", "EqualMixing", "ConstantMixing", "ConcomitantMixing",
           "make_mixing", "Rows", "DesignGroup"]
