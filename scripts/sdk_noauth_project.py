"""pytest plugin for openstacksdk's functional load_balancer suite under noauth: keystoneauth's ``none``
plugin knows no project, and the suite's setUp asserts one; give it the project named by
SDK_NOAUTH_PROJECT (the project lbaas's noauth mode uses for callers without X-Project-Id)."""
import os

from keystoneauth1 import noauth

noauth.NoAuth.get_project_id = lambda self, session=None, **kw: os.environ.get("SDK_NOAUTH_PROJECT", "lbaas-default")
