"""Server-side apply and ``metadata.managedFields`` tracking.

Pure functions over JSON objects, split by job:

* :mod:`.fieldpath` — paths, field sets (a trie) and the ``FieldsV1`` encoding;
* :mod:`.typed`     — schema-aware walks: an object's field set, comparison of
  two objects, the apply merge, removal of a set of fields;
* :mod:`.managed`   — managedFields entries and manager identities;
* :mod:`.updater`   — :func:`apply` and :func:`track_update`, ownership
  transfer, pruning and conflicts.

The apiserver calls :func:`apply` for ``application/apply-patch+yaml`` and
:func:`track_update` for every other write, passing the kind's root schema
(``schemas.for_kind(...)``, or a CRD's structural schema, or None).
"""

from kubeling.api.fieldmanager.fieldpath import FieldSet, from_fields_v1, path_string, to_fields_v1
from kubeling.api.fieldmanager.updater import (
    BEFORE_FIRST_APPLY,
    apply,
    conflict_error,
    managed_fields_of,
    remove_managed_fields_if_reset,
    track_update,
)

__all__ = [
    "BEFORE_FIRST_APPLY",
    "FieldSet",
    "apply",
    "conflict_error",
    "from_fields_v1",
    "managed_fields_of",
    "path_string",
    "remove_managed_fields_if_reset",
    "to_fields_v1",
    "track_update",
]
