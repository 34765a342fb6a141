"""Code a user writes with numpy and pandas inputs: checked by ``mypy --strict`` against the
package's stubs (tests/test_stubs.py), and run."""

import numpy as np
import pandas as pd

import embedrec


def main() -> None:
    log = pd.DataFrame(
        {
            "user": ["u1", "u1", "u2"],
            "item": [10, 11, 10],
            "plays": [3.0, 1.0, 2.0],
            "at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
        }
    )
    engine = embedrec.Engine(2)
    engine.upsert_items(
        np.array([10, 11, 12]),
        np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32),
        attributes=pd.DataFrame({"year": [1999.0, 2004.0, 2010.0]}),
    )
    engine.add_interactions(log["user"], log["item"], weights=log["plays"], timestamps=log["at"])
    engine.add_interactions(np.array(["u3"]), np.array([12]), timestamps=np.array(["2024-02-01"], dtype="datetime64[s]"))
    hits: list[tuple[str | int, float]] = engine.recommend("u1", k=2)
    ids, scores = engine.recommend_batch(log["user"].unique(), k=2)
    assert len(hits) <= 2 and ids.shape == scores.shape
    # Metadata with hits, attribute updates, batch results as a DataFrame.
    described = engine.search([1.0, 0.0], k=2, with_metadata=True)
    years: list[float] = [meta["attributes"]["year"] for _, _, meta in described]
    engine.update_attributes([10], attributes={"year": [2001.0]}, remove=["plays"])
    tags: list[str] = engine.item_attributes([10])[0]["tags"]
    frame: pd.DataFrame = engine.recommend_batch(["u1", "u2"], k=2, as_frame=True)
    assert len(years) == 2 and not tags and list(frame.columns) == ["user_id", "rank", "item_id", "score"]


if __name__ == "__main__":
    main()
