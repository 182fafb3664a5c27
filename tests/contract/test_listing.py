"""Lists: filters on any attribute, tags, fields, sorting, limit/marker/page_reverse and *_links, /v2.0 alias."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.contract.helpers import HMS, LB, LISTENERS, POLICIES, POOLS, Cloud, assert_fault


@pytest.fixture
def lbs(cloud: Cloud) -> list[dict[str, Any]]:
    """Five ACTIVE LBs named lb0..lb4, created in that order, with tags and one admin-down."""
    tags = [["a"], ["a", "b"], ["b"], ["c"], []]
    out = []
    for i in range(5):
        out.append(cloud.post(LB, "loadbalancer", {"vip_subnet_id": cloud.subnet_id, "name": f"lb{i}", "tags": tags[i],
                                                   "admin_state_up": i != 3, "description": f"d{i % 2}"}))  # fmt: skip
    cloud.settle()
    return out


def names(cloud: Cloud, query: str, path: str = LB, key: str = "loadbalancers") -> list[str]:
    r = cloud.client.get(f"{path}?{query}")
    assert r.status_code == 200, r.text
    return [x["name"] for x in r.json()[key]]


def test_default_order_is_created_at_then_id(cloud: Cloud, lbs: list[dict[str, Any]]) -> None:
    body = cloud.client.get(LB).json()
    got = [(x["created_at"], x["id"]) for x in body["loadbalancers"]]
    assert got == sorted(got) and len(got) == 5
    assert body["loadbalancers_links"] == []


@pytest.mark.parametrize(
    "query, expected",
    [
        ("name=lb2", ["lb2"]),
        ("name=lb2&name=lb4", ["lb2", "lb4"]),
        ("description=d1", ["lb1", "lb3"]),
        ("description=d1&name=lb3", ["lb3"]),
        ("admin_state_up=false", ["lb3"]),
        ("admin_state_up=False", ["lb3"]),
        ("admin_state_up=true&description=d0", ["lb0", "lb2", "lb4"]),
        ("provisioning_status=ACTIVE&name=lb1", ["lb1"]),
        ("vip_address=10.0.0.4", ["lb2"]),
        ("name=nobody", []),
        ("bogus=1&name=lb0", ["lb0"]),  # unknown filters are ignored
        ("listeners=x&name=lb0", ["lb0"]),  # so are non-column attributes
    ],
)
def test_filters(cloud: Cloud, lbs: list[dict[str, Any]], query: str, expected: list[str]) -> None:
    assert names(cloud, f"{query}&sort=name") == expected


def test_filter_by_id(cloud: Cloud, lbs: list[dict[str, Any]]) -> None:
    assert names(cloud, f"id={lbs[3]['id']}") == ["lb3"]
    assert names(cloud, f"id={lbs[3]['id']}&id={lbs[0]['id']}&sort=name") == ["lb0", "lb3"]
    assert names(cloud, f"vip_port_id={lbs[1]['vip_port_id']}") == ["lb1"]


def test_bad_filter_value_is_400(cloud: Cloud, lbs: list[dict[str, Any]]) -> None:
    assert_fault(cloud.client.get(f"{LB}?admin_state_up=perhaps"), 400)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("tags=a", ["lb0", "lb1"]),
        ("tags=a,b", ["lb1"]),
        ("tags=a&tags=b", ["lb1"]),
        ("tags-any=a,c", ["lb0", "lb1", "lb3"]),
        ("tags-any=a&tags-any=c", ["lb0", "lb1", "lb3"]),
        ("not-tags=a,b", ["lb0", "lb2", "lb3", "lb4"]),
        ("not-tags=a", ["lb2", "lb3", "lb4"]),
        ("not-tags-any=a,c", ["lb2", "lb4"]),
        ("tags=b&not-tags-any=a", ["lb2"]),
        ("tags=zzz", []),
    ],
)
def test_tag_filters(cloud: Cloud, lbs: list[dict[str, Any]], query: str, expected: list[str]) -> None:
    assert names(cloud, f"{query}&sort=name") == expected


@pytest.mark.parametrize("query", ["fields=id&fields=name", "fields=id,name"])
def test_fields(cloud: Cloud, lbs: list[dict[str, Any]], query: str) -> None:
    body = cloud.client.get(f"{LB}?{query}").json()
    assert all(set(x) == {"id", "name"} for x in body["loadbalancers"])
    one = cloud.client.get(f"{LB}/{lbs[0]['id']}?{query}").json()["loadbalancer"]
    assert one == {"id": lbs[0]["id"], "name": "lb0"}


@pytest.mark.parametrize(
    "query, expected",
    [
        ("sort=name:desc", ["lb4", "lb3", "lb2", "lb1", "lb0"]),
        ("sort=description:asc,name:desc", ["lb4", "lb2", "lb0", "lb3", "lb1"]),
        ("sort_key=name&sort_dir=desc", ["lb4", "lb3", "lb2", "lb1", "lb0"]),
        ("sort_key=description&sort_dir=desc&sort_key=name&sort_dir=asc", ["lb1", "lb3", "lb0", "lb2", "lb4"]),
        ("sort_key=name", ["lb0", "lb1", "lb2", "lb3", "lb4"]),
    ],
)
def test_sorting(cloud: Cloud, lbs: list[dict[str, Any]], query: str, expected: list[str]) -> None:
    assert names(cloud, query) == expected


@pytest.mark.parametrize("query", ["sort=bogus:asc", "sort=name:sideways", "sort_key=name&sort_dir=up", "limit=x", "limit=-1"])
def test_bad_sort_or_limit_is_400(cloud: Cloud, lbs: list[dict[str, Any]], query: str) -> None:
    assert_fault(cloud.client.get(f"{LB}?{query}"), 400)


def _link(body: dict[str, Any], rel: str) -> dict[str, list[str]] | None:
    for link in body["loadbalancers_links"]:
        if link["rel"] == rel:
            return parse_qs(urlsplit(link["href"]).query)
    return None


def test_pagination_forward_and_back(cloud: Cloud, lbs: list[dict[str, Any]]) -> None:
    page1 = cloud.client.get(f"{LB}?limit=2&sort=name").json()
    assert [x["name"] for x in page1["loadbalancers"]] == ["lb0", "lb1"]
    nxt = _link(page1, "next")
    assert nxt is not None and nxt["marker"] == [lbs[1]["id"]] and nxt["limit"] == ["2"] and nxt["sort"] == ["name"]
    assert _link(page1, "previous") is None

    page2 = cloud.client.get(f"{LB}?limit=2&sort=name&marker={lbs[1]['id']}").json()
    assert [x["name"] for x in page2["loadbalancers"]] == ["lb2", "lb3"]
    prev = _link(page2, "previous")
    assert prev is not None and prev["marker"] == [lbs[2]["id"]] and prev["page_reverse"] == ["True"]
    assert _link(page2, "next") is not None

    page3 = cloud.client.get(f"{LB}?limit=2&sort=name&marker={lbs[3]['id']}").json()
    assert [x["name"] for x in page3["loadbalancers"]] == ["lb4"]
    assert _link(page3, "next") is None and _link(page3, "previous") is not None

    back = cloud.client.get(f"{LB}?limit=2&sort=name&marker={lbs[2]['id']}&page_reverse=True").json()
    assert [x["name"] for x in back["loadbalancers"]] == ["lb0", "lb1"]
    assert _link(back, "previous") is None and _link(back, "next") is not None


def test_pagination_follows_links_with_sort_and_filters(cloud: Cloud, lbs: list[dict[str, Any]]) -> None:
    url: str | None = f"{LB}?limit=2&sort=name:desc&admin_state_up=true"
    seen: list[str] = []
    while url:
        body = cloud.client.get(url).json()
        seen += [x["name"] for x in body["loadbalancers"]]
        url = next((link["href"] for link in body["loadbalancers_links"] if link["rel"] == "next"), None)
    assert seen == ["lb4", "lb2", "lb1", "lb0"]


def test_unknown_marker_is_404(cloud: Cloud, lbs: list[dict[str, Any]]) -> None:
    assert_fault(cloud.client.get(f"{LB}?marker=8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e"), 404)


def test_v2_0_prefix_is_an_alias(cloud: Cloud, lbs: list[dict[str, Any]]) -> None:
    v2 = cloud.client.get(f"{LB}?name=lb1").json()["loadbalancers"]
    v20 = cloud.client.get("/v2.0/lbaas/loadbalancers?name=lb1").json()["loadbalancers"]
    assert v2 == v20 and len(v20) == 1
    one = cloud.client.get(f"/v2.0/lbaas/loadbalancers/{lbs[1]['id']}").json()["loadbalancer"]
    assert one["name"] == "lb1"
    r = cloud.client.post("/v2.0/lbaas/listeners", json={"listener": {"loadbalancer_id": lbs[1]["id"], "protocol": "HTTP", "protocol_port": 80}})
    assert r.status_code == 201, r.text
    body = cloud.client.get("/v2.0/lbaas/loadbalancers?limit=1").json()
    assert body["loadbalancers_links"][0]["href"].startswith("http://testserver/v2.0/lbaas/loadbalancers?")


def test_every_collection_filters_by_id_and_name(cloud: Cloud) -> None:
    """The same list machinery on every resource: filter by id and by name, tags, fields, paging."""
    lb, li, pool = cloud.http_stack()
    li2 = cloud.listener(lb["id"], "TCP", 81, name="second", tags=["t"])
    pool2 = cloud.pool(loadbalancer_id=lb["id"], name="second", tags=["t"])
    mb = [cloud.member(pool["id"], f"10.0.0.{10 + i}", name=f"m{i}", tags=["t"] if i else []) for i in range(3)]
    hm = cloud.hm(pool2["id"], name="second", tags=["t"])
    cloud.hm(pool["id"])
    pol = [cloud.policy(li["id"], name=f"p{i}", tags=["t"] if i else []) for i in range(2)]
    rules = [cloud.rule(pol[0]["id"], value=f"/r{i}", tags=["t"] if i else []) for i in range(2)]
    cases = [
        (LISTENERS, "listeners", li2),
        (POOLS, "pools", pool2),
        (f"{POOLS}/{pool['id']}/members", "members", mb[1]),
        (HMS, "healthmonitors", hm),
        (POLICIES, "l7policies", pol[1]),
        (f"{POLICIES}/{pol[0]['id']}/rules", "rules", rules[1]),
    ]
    for path, key, obj in cases:
        def ids(query: str, path: str = path, key: str = key) -> list[str]:
            r = cloud.client.get(f"{path}?{query}")
            assert r.status_code == 200, (path, r.text)
            return [x["id"] for x in r.json()[key]]

        everything = ids("")
        assert len(everything) >= 2, key
        assert ids(f"id={obj['id']}") == [obj["id"]], key
        if "name" in obj:
            assert ids(f"name={obj['name']}") == [obj["id"]], key
        tagged = [obj["id"]] if key != "members" else [mb[1]["id"], mb[2]["id"]]
        assert sorted(ids("tags=t")) == sorted(tagged), key
        assert obj["id"] not in ids("not-tags=t"), key
        assert ids("nonsense=1") == everything, key
        fields = cloud.client.get(f"{path}?fields=id").json()[key]
        assert all(set(x) == {"id"} for x in fields), key
        page = cloud.client.get(f"{path}?limit=1").json()
        assert len(page[key]) == 1 and page[f"{key}_links"][0]["rel"] == "next", key
    # Filters that name the parent.
    assert [x["id"] for x in cloud.client.get(f"{LISTENERS}?loadbalancer_id={lb['id']}&protocol=TCP").json()["listeners"]] == [li2["id"]]
    assert [x["id"] for x in cloud.client.get(f"{HMS}?pool_id={pool2['id']}").json()["healthmonitors"]] == [hm["id"]]
    assert len(cloud.client.get(f"{POLICIES}?listener_id={li['id']}&position=2").json()["l7policies"]) == 1
    assert [x["id"] for x in cloud.client.get(f"{POOLS}/{pool['id']}/members?address=10.0.0.12").json()["members"]] == [mb[2]["id"]]
    same = cloud.client.get(f"{POOLS}/{pool['id']}/members?protocol_port=80&weight=1").json()["members"]
    assert sorted(x["id"] for x in same) == sorted(m["id"] for m in mb)


def test_json_suffix_and_accept_header(cloud: Cloud, lbs: list[dict[str, Any]]) -> None:
    assert len(cloud.client.get(f"{LB}.json").json()["loadbalancers"]) == 5
    assert cloud.client.get(f"{LB}/{lbs[0]['id']}.json").json()["loadbalancer"]["name"] == "lb0"
    assert cloud.client.get("/v2.0/lbaas/loadbalancers.json?name=lb1").json()["loadbalancers"][0]["name"] == "lb1"
    for accept in ("application/json", "*/*", "text/html, application/json;q=0.5", "application/*"):
        assert cloud.client.get(LB, headers={"Accept": accept}).status_code == 200, accept
    for accept in ("application/xml", "text/html", "application/json;q=0"):
        assert_fault(cloud.client.get(LB, headers={"Accept": accept}), 406)
