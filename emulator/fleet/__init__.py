"""Running labs: units in this process (:mod:`.run`), or shared-nothing worker processes under a supervisor
(:mod:`.supervisor`, :mod:`.worker`), and the ready file that lists every unit (:mod:`.ready`)."""
