"""pluggy hook specifications. Add hook arguments only: old plugins may ignore new ones."""

import pluggy

PROJECT = "ldmcore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def ldmcore_register_components(register):
    """Register components: `register(kind, name, ParamsModel, factory, description=...)`.

    `factory(params, ctx)` builds the component; import heavy modules (torch) inside it.
    """
