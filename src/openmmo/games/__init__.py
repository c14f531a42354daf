"""Games that ship with OpenMMO (each written only against :mod:`openmmo.game`)."""
