"""Incident geometry on known layouts: where cones cross, when they do not, which incident a cone joins.

Towers are placed around a known fire with pyproj's geodesics (Geod.fwd from the fire) and
point at it (Geod.inv), so every expectation is computed independently of the module's own
projection. No server, no database: milliseconds.
"""

from __future__ import annotations

import math

import pytest
from pyproj import Geod

from pyrogrpc.domain.incident_geometry import Cone, best_match, crosses, distance_m, locate

GEOD = Geod(ellps="WGS84")
FIRE = (44.0, 4.0)  # lat, lon: the Cévennes


def place(origin: tuple[float, float], bearing: float, metres: float) -> tuple[float, float]:
    """The point `metres` away from `origin` towards `bearing` (degrees from north)."""
    lon, lat, _ = GEOD.fwd(origin[1], origin[0], bearing, metres)
    return (lat, lon)


def aim(tower: tuple[float, float], target: tuple[float, float], angle: float = 3.0, range_m: float = 30_000.0) -> Cone:
    """The cone of a camera on `tower` whose smoke is centred on `target`."""
    azimuth, _, _ = GEOD.inv(tower[1], tower[0], target[1], target[0])
    return Cone(lat=tower[0], lon=tower[1], azimuth=azimuth % 360.0, angle=angle, range_m=range_m)


def error_m(fix, target: tuple[float, float]) -> float:
    return distance_m(fix.lat, fix.lon, target[0], target[1])


# Two towers 10 km apart (8.7 km south-west and south-east of the fire, 70 degrees apart as seen from it).
WEST = place(FIRE, 215.0, 8_700.0)
EAST = place(FIRE, 145.0, 8_700.0)
THIRD = place(FIRE, 80.0, 9_000.0)  # east-north-east: looks across the two cones' crossing


def test_distance_is_geodesic():
    assert distance_m(*WEST, *EAST) == pytest.approx(2 * 8_700 * math.sin(math.radians(35)), rel=0.005)
    assert distance_m(*FIRE, *FIRE) == 0.0
    # One degree of latitude is about 111 km, whatever the longitude.
    assert distance_m(0.0, 10.0, 1.0, 10.0) == pytest.approx(110_574, rel=0.001)


def test_two_towers_locate_the_fire_within_300_m():
    assert 9_900 < distance_m(*WEST, *EAST) < 10_100
    fix = locate([aim(WEST, FIRE), aim(EAST, FIRE)])
    assert fix is not None
    assert error_m(fix, FIRE) < 300
    # The area of two 3-degree cones crossing at 8.7 km: each is ~455 m wide there.
    assert 100_000 < fix.area_m2 < 400_000
    assert 200 < fix.uncertainty_m < 800
    assert error_m(fix, FIRE) < fix.uncertainty_m


def test_a_third_tower_tightens_the_estimate():
    two = locate([aim(WEST, FIRE), aim(EAST, FIRE)])
    three = locate([aim(WEST, FIRE), aim(EAST, FIRE), aim(THIRD, FIRE)])
    assert two is not None and three is not None
    # The two cones cross in a rhombus ~800 m long; the third cuts it across, to ~550 m.
    assert three.area_m2 < two.area_m2
    assert three.uncertainty_m < two.uncertainty_m * 0.8
    assert error_m(three, FIRE) < 300


def test_the_order_of_cones_does_not_move_the_estimate():
    cones = [aim(WEST, FIRE), aim(EAST, FIRE), aim(THIRD, FIRE)]
    a, b = locate(cones), locate(cones[::-1])
    assert a is not None and b is not None
    assert distance_m(a.lat, a.lon, b.lat, b.lon) < 1.0
    assert a.area_m2 == pytest.approx(b.area_m2, rel=1e-6)


def test_parallel_and_diverging_cones_have_no_position():
    parallel = [Cone(*WEST, azimuth=0.0, angle=3.0), Cone(*EAST, azimuth=0.0, angle=3.0)]
    assert locate(parallel) is None
    assert not crosses(parallel[0], parallel[1:])
    # WEST is west of EAST: pointing west from WEST and east from EAST, the cones part.
    diverging = [Cone(*WEST, azimuth=270.0, angle=10.0), Cone(*EAST, azimuth=90.0, angle=10.0)]
    assert locate(diverging) is None
    assert not crosses(diverging[1], diverging[:1])


def test_a_single_tower_has_no_position():
    assert locate([aim(WEST, FIRE)]) is None
    assert locate([]) is None
    # Two cameras on one mast (a few metres apart) see the same smoke: still one tower.
    mast = place(WEST, 90.0, 5.0)
    assert locate([aim(WEST, FIRE, angle=10.0), aim(mast, FIRE, angle=10.0)]) is None
    # They do share an area: the incident is theirs, without a position.
    assert crosses(aim(mast, FIRE), [aim(WEST, FIRE)])


def test_cones_meeting_beyond_their_range_have_no_position():
    far = place(FIRE, 0.0, 35_000.0)  # 35 km beyond the fire: ~40 km from both towers
    assert locate([aim(WEST, far), aim(EAST, far)]) is None
    assert not crosses(aim(WEST, far), [aim(EAST, far)])
    # The same cones with a 50 km range do meet there.
    fix = locate([aim(WEST, far, range_m=50_000.0), aim(EAST, far, range_m=50_000.0)])
    assert fix is not None and error_m(fix, far) < 1_500


def test_crosses_the_common_area_of_others():
    west, east, third = aim(WEST, FIRE), aim(EAST, FIRE), aim(THIRD, FIRE)
    assert crosses(third, [west, east])
    assert crosses(third, [west])  # one other cone: its own area
    assert not crosses(third, [])
    elsewhere = aim(THIRD, place(FIRE, 90.0, 4_000.0))  # points 4 km east of the fire
    assert crosses(elsewhere, [east])  # crosses the east cone somewhere...
    assert not crosses(elsewhere, [west, east])  # ...but not where west and east meet


# Two fires 5 km apart, both seen by the same two towers 10 km apart. With one cone per fire
# on each tower, the second tower's cones cross both of the first's: at the fires and at two
# "ghost" points. Two fires and two ghosts explain the same four cones equally well; no rule
# on the cones alone tells them apart. best_match takes the tightest crossing: a cone's width
# grows with distance, so the crossing nearest to both towers at the squarest angle wins.
# Layout: towers A and B on an east-west baseline; fire NEAR 7 km in front of its middle,
# fire FAR 5 km behind it. The near fire's cones cross tighter than either ghost (both lie
# between 9 and 11 km out), so B's near cone joins A's near cone; once that incident has two
# towers its area is ~0.3 km² around the near fire, and B's far cone cannot cross it.
TOWER_A = (44.0, 4.0)
TOWER_B = place(TOWER_A, 90.0, 10_000.0)
MIDDLE = place(TOWER_A, 90.0, 5_000.0)
NEAR_FIRE = place(MIDDLE, 0.0, 7_000.0)
FAR_FIRE = place(MIDDLE, 0.0, 12_000.0)


def test_two_fires_seen_by_two_towers_make_two_incidents():
    assert distance_m(*NEAR_FIRE, *FAR_FIRE) == pytest.approx(5_000, rel=0.01)
    a_near, a_far = aim(TOWER_A, NEAR_FIRE), aim(TOWER_A, FAR_FIRE)
    b_near, b_far = aim(TOWER_B, NEAR_FIRE), aim(TOWER_B, FAR_FIRE)
    # The first tower's cones are two incidents of their own (they share no area).
    assert not crosses(a_far, [a_near])
    incidents: dict[str, list[Cone]] = {"near": [a_near], "far": [a_far]}
    assert best_match(b_near, list(incidents.items())) == "near"
    incidents["near"].append(b_near)
    assert best_match(b_far, list(incidents.items())) == "far"
    incidents["far"].append(b_far)
    near, far = locate(incidents["near"]), locate(incidents["far"])
    assert near is not None and far is not None
    assert error_m(near, NEAR_FIRE) < 300
    assert error_m(far, FAR_FIRE) < 500
    # A new cone of either tower goes to its own fire's incident.
    assert best_match(aim(TOWER_A, NEAR_FIRE, angle=2.0), list(incidents.items())) == "near"
    assert best_match(aim(TOWER_B, FAR_FIRE, angle=2.0), list(incidents.items())) == "far"


def test_a_third_tower_tells_a_fire_from_a_ghost():
    a_near, b_far = aim(TOWER_A, NEAR_FIRE), aim(TOWER_B, FAR_FIRE)
    a_far = aim(TOWER_A, FAR_FIRE)
    # Against A's lone cones, B's far cone crosses tighter at the ghost (with a_near, 9-11 km
    # out) than at its fire (12-13 km out): the ambiguity two towers cannot resolve.
    assert best_match(b_far, [("near", [a_near]), ("far", [a_far])]) == "near"
    # A third tower's cone at the far fire crosses the true crossing, not the ghost.
    tower_c = place(FAR_FIRE, 300.0, 9_000.0)
    c_far = aim(tower_c, FAR_FIRE)
    assert crosses(c_far, [a_far, b_far])
    assert not crosses(c_far, [a_near, b_far])


def test_best_match_prefers_the_tightest_and_the_first_on_ties():
    west, east, third = aim(WEST, FIRE), aim(EAST, FIRE), aim(THIRD, FIRE)
    # third crosses both; the incident with two towers has the smaller common area with it.
    assert best_match(third, [("one", [west]), ("two", [west, east])]) == "two"
    assert best_match(third, [("a", [west]), ("b", [west])]) == "a"
    assert best_match(third, []) is None
    assert best_match(third, [("none", [])]) is None
    away = Cone(*THIRD, azimuth=0.0, angle=3.0)  # points away from the fire
    assert best_match(away, [("two", [west, east])]) is None


def test_azimuth_wraps_around_north():
    tower = place(FIRE, 180.0, 10_000.0)  # due south: the fire is at azimuth ~0
    across_north = Cone(*tower, azimuth=359.0, angle=4.0)  # spans 357..1 degrees
    other = aim(EAST, FIRE)
    fix = locate([across_north, other])
    assert fix is not None and error_m(fix, FIRE) < 500
    assert crosses(Cone(*tower, azimuth=1.0, angle=4.0), [across_north])


@pytest.mark.parametrize("fire", [(44.0, 4.0), (-33.0, 151.0), (64.0, -20.0), (0.5, 179.9)])
def test_other_latitudes_and_the_antimeridian(fire):
    west, east, third = place(fire, 215.0, 8_700.0), place(fire, 145.0, 8_700.0), place(fire, 350.0, 9_000.0)
    two = locate([aim(west, fire), aim(east, fire)])
    three = locate([aim(west, fire), aim(east, fire), aim(third, fire)])
    assert two is not None and three is not None
    assert error_m(two, fire) < 300
    assert error_m(three, fire) < 300
    assert three.area_m2 < two.area_m2


def test_degenerate_cones_never_raise():
    west, east = aim(WEST, FIRE), aim(EAST, FIRE)
    degenerate = [
        Cone(*WEST, azimuth=west.azimuth, angle=1e-9),  # a line: no area
        Cone(*WEST, azimuth=west.azimuth, angle=0.0),
        Cone(*WEST, azimuth=west.azimuth, angle=-3.0),
        Cone(*WEST, azimuth=west.azimuth, angle=math.nan),
        Cone(*WEST, azimuth=math.inf, angle=3.0),
        Cone(math.nan, 4.0, azimuth=10.0, angle=3.0),
        Cone(*WEST, azimuth=west.azimuth, angle=3.0, range_m=0.0),
        Cone(95.0, 4.0, azimuth=10.0, angle=3.0),
        Cone(*WEST, azimuth=west.azimuth, angle=3.0, range_m=math.inf),
        Cone(44.0, 1e12, azimuth=west.azimuth, angle=3.0),  # floats too large to place
        Cone(*WEST, azimuth=1e15, angle=3.0),
    ]
    for cone in degenerate:
        assert locate([cone, east]) is None
        assert not crosses(cone, [east])
        assert not crosses(east, [cone])
        assert best_match(cone, [("x", [east])]) is None
        assert best_match(east, [("x", [cone])]) is None
    # Identical towers, identical cones: one tower.
    assert locate([west, west]) is None
    # Wide and odd but valid values still work: a 179-degree cone, an azimuth beyond 360.
    assert locate([Cone(*WEST, azimuth=west.azimuth + 720.0, angle=3.0), east]) is not None
    assert locate([Cone(*WEST, azimuth=west.azimuth, angle=179.0), east]) is not None
    # A hostile range stops at 200 km (no sector round the earth); a longitude 360 degrees off is the same place.
    wide = locate([Cone(*WEST, azimuth=west.azimuth, angle=359.9, range_m=1e9), east])
    assert wide is not None and wide.uncertainty_m < 40_000  # all of the east cone (30 km)
    shifted = locate([Cone(WEST[0], WEST[1] + 360.0, azimuth=west.azimuth, angle=3.0), east])
    assert shifted is not None and error_m(shifted, FIRE) < 300
    # A tower at the pole (every direction is south): an answer, not an exception.
    fix = locate([Cone(90.0, 0.0, azimuth=180.0, angle=3.0), Cone(89.9, 0.0, azimuth=0.0, angle=3.0)])
    assert fix is None or (math.isfinite(fix.lat) and math.isfinite(fix.uncertainty_m))
