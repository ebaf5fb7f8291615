"""The mini-program session token in the OpenAPI contract (imported in MembersConfig.ready())."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class MemberTokenScheme(OpenApiAuthenticationExtension):
    target_class = "members.mp_auth.MemberTokenAuthentication"
    name = "memberToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Bearer <token>`, from POST /api/v1/mp/session (valid on the brand host that issued it).",
        }
