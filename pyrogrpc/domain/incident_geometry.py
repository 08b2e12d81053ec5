"""Where cameras' detection cones cross: the fire position of an incident (issue 16).

Pure functions on plain values (no database, no protobuf). A camera's event says "the smoke
is somewhere in this cone": a circular sector from the tower, centred on the event's azimuth,
`angle` degrees wide, out to the distance the tower can see. Cones of towers that see the same
smoke overlap around it; the centre of the area common to all of them is the estimate and the
farthest point of that area from the centre its uncertainty.

The polygons are shapely's (GEOS) in a local azimuthal equidistant projection (pyproj), in
metres: the arc points are geodesic (Geod.fwd from the tower), so a cone is faithful wherever
its tower stands, and the projection only has to be metric over a few tens of kilometres.
Transformers and sector polygons are cached: building a Transformer costs milliseconds, the
cones of an open incident are intersected again on every new event.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

K = TypeVar("K")

DEFAULT_RANGE_M = 30_000.0
# Towers closer than this are one tower (two cameras on one mast): their cones cross at the mast.
MIN_TOWER_SEPARATION_M = 50.0
# Areas below this (square metres) are a touch, not a crossing (and absorb float noise).
MIN_AREA_M2 = 1.0
# The arc is drawn with a vertex at least every ARC_STEP_DEG: at 30 km a chord then strays at
# most 30 km * (1 - cos(0.25 deg)) = 0.3 m from the true arc; a narrow cone gets MIN_ARC_SEGMENTS.
ARC_STEP_DEG = 0.5
MIN_ARC_SEGMENTS = 8
# Sectors stop here whatever range_m says: the local projection stays metric and the polygon
# simple (no tower sees smoke 200 km away; a huge hostile range would wrap round the earth).
MAX_RANGE_M = 200_000.0
# The projection centre is snapped to this grid (degrees) so nearby calls share one Transformer.
PROJECTION_GRID_DEG = 0.1

_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True, slots=True)
class Cone:
    """What one camera's event says about where its smoke is."""

    lat: float  # tower position, degrees
    lon: float
    azimuth: float  # centre of the cone, degrees clockwise from true north, [0, 360)
    angle: float  # full opening of the cone, degrees (0 < angle < 180)
    range_m: float = DEFAULT_RANGE_M  # how far the tower can see


@dataclass(frozen=True, slots=True)
class Fix:
    """An estimated fire position."""

    lat: float  # centre (centroid) of the cones' common area
    lon: float
    uncertainty_m: float  # the farthest point of the common area from the centre
    area_m2: float


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance on the WGS84 ellipsoid, in metres."""
    _, _, distance = _GEOD.inv(lon1, lat1, lon2, lat2)
    return float(distance)


def locate(cones: Sequence[Cone]) -> Fix | None:
    """The centre of the area common to all `cones`, when there is one to speak of.

    None when the cones come from a single tower (no crossing to locate anything), when they
    are parallel or diverge, when they would only meet beyond their range, or when any cone is
    degenerate (no area: zero or invalid opening, non-finite values).
    """
    if len(cones) < 2 or not all(_usable(c) for c in cones):
        return None
    if not _distinct_towers(cones):
        return None
    projection = _projection_for(cones[0])
    common = _common_of(tuple(cones), projection)
    if common is None:
        return None
    centre = common.centroid
    cx, cy = centre.x, centre.y
    points = shapely.get_coordinates(common)
    uncertainty = float(np.max(np.hypot(points[:, 0] - cx, points[:, 1] - cy)))
    lon, lat = _transformer(*projection).transform(cx, cy, direction="INVERSE")
    return Fix(lat=float(lat), lon=float(lon), uncertainty_m=uncertainty, area_m2=float(common.area))


def crosses(cone: Cone, others: Sequence[Cone]) -> bool:
    """Whether `cone` shares an area with the area common to all `others`."""
    return _overlap_area(cone, others, _projection_for(cone)) is not None


def best_match(cone: Cone, candidates: Sequence[tuple[K, Sequence[Cone]]]) -> K | None:
    """Which candidate incident (key, its cones) the new `cone` joins, or None.

    The cone must cross the incident's common area; among several, the tightest common area
    with it wins (the most specific crossing), the first given on a tie. Cone widths grow with
    distance, so a crossing's area grows with its distance from the towers and with the
    shallowness of its angle. When two towers each see two fires, each cone of the second
    tower crosses both cones of the first: at its fire and at a "ghost" point; fires and
    ghosts explain the same four cones equally well, so no rule on two towers' cones can tell
    them apart (a third tower can: see the tests). This one lets the first cone of the second
    tower take its tightest crossing; once that incident has two towers its common area is
    small, and the other fire's cone no longer crosses it. Known limit: a cone that only
    grazes an incident's area (a sliver of a few square metres) counts as its tightest match.
    """
    if not _usable(cone):
        return None
    projection = _projection_for(cone)
    best: K | None = None
    best_area = math.inf
    for key, incident_cones in candidates:
        area = _overlap_area(cone, incident_cones, projection)
        if area is not None and area < best_area:
            best, best_area = key, area
    return best


# --- internals ------------------------------------------------------------------------------


def _usable(cone: Cone) -> bool:
    """A cone with an area: finite values, an opening in (0, 360), a positive range, a real place."""
    return (
        math.isfinite(cone.lat)
        and math.isfinite(cone.lon)
        and math.isfinite(cone.azimuth)
        and math.isfinite(cone.angle)
        and math.isfinite(cone.range_m)
        and -90.0 <= cone.lat <= 90.0
        and 0.0 < cone.angle < 360.0
        and cone.range_m > 0.0
    )


def _overlap_area(cone: Cone, others: Sequence[Cone], projection: tuple[float, float]) -> float | None:
    """The area `cone` shares with the common area of `others`; None when it is no real area."""
    if not others or not _usable(cone) or not all(_usable(c) for c in others):
        return None
    common = _common_of(tuple(others), projection)
    if common is None:
        return None
    overlap = _common_area([common, _sector(cone, projection)])
    return None if overlap is None else float(overlap.area)


@lru_cache(maxsize=1024)
def _common_of(cones: tuple[Cone, ...], projection: tuple[float, float]) -> BaseGeometry | None:
    """The common area of `cones` (cached: an open incident's cones are matched on every new event)."""
    return _common_area([_sector(c, projection) for c in cones])


def _common_area(polygons: Sequence[BaseGeometry]) -> BaseGeometry | None:
    """The intersection of all `polygons`; None when it is empty or a mere touch."""
    common = polygons[0]
    for polygon in polygons[1:]:
        # GEOS's overlay answers disjoint envelopes (most non-crossing cones) without any work.
        try:
            common = common.intersection(polygon)
        except shapely.errors.GEOSException:  # an invalid polygon from hostile values: no area
            return None
        if common.is_empty or common.area < MIN_AREA_M2:
            return None
    return common


def _projection_for(cone: Cone) -> tuple[float, float]:
    """The snapped centre (lat, lon) of the local projection used for a call about `cone`."""
    grid = PROJECTION_GRID_DEG
    if not (math.isfinite(cone.lat) and math.isfinite(cone.lon)):
        return (0.0, 0.0)
    lat = min(90.0, max(-90.0, round(cone.lat / grid) * grid))
    lon = round(((cone.lon + 180.0) % 360.0 - 180.0) / grid) * grid
    return (round(lat, 6), round(lon, 6))


@lru_cache(maxsize=64)
def _transformer(lat0: float, lon0: float) -> Transformer:
    """WGS84 lon/lat <-> metres in an azimuthal equidistant projection centred at (lat0, lon0)."""
    local = f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
    return Transformer.from_crs("EPSG:4326", local, always_xy=True)


@lru_cache(maxsize=4096)
def _sector(cone: Cone, projection: tuple[float, float]) -> Polygon:
    """The cone as a polygon in the projection's metres: the tower, then its arc at range_m."""
    angle, range_m = cone.angle, min(cone.range_m, MAX_RANGE_M)
    segments = max(MIN_ARC_SEGMENTS, math.ceil(angle / ARC_STEP_DEG))
    azimuths = cone.azimuth - angle / 2.0 + np.arange(segments + 1) * (angle / segments)
    n = len(azimuths)
    arc_lon, arc_lat, _ = _GEOD.fwd(np.full(n, cone.lon), np.full(n, cone.lat), azimuths, np.full(n, range_m))
    lons = np.concatenate(([cone.lon], arc_lon))
    lats = np.concatenate(([cone.lat], arc_lat))
    xs, ys = _transformer(*projection).transform(lons, lats)
    return Polygon(np.column_stack((xs, ys)))


def _distinct_towers(cones: Sequence[Cone]) -> bool:
    """Whether at least two cones come from towers more than MIN_TOWER_SEPARATION_M apart."""
    first = cones[0]
    return any(
        (cone.lat, cone.lon) != (first.lat, first.lon)
        and distance_m(first.lat, first.lon, cone.lat, cone.lon) > MIN_TOWER_SEPARATION_M
        for cone in cones[1:]
    )
