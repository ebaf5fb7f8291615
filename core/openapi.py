"""drf-spectacular extensions for ekr's own authenticators (imported in CoreConfig.ready())."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "core.tokens.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token ekr_<prefix>_<secret>`, from POST /api/v1/auth/tokens.",
        }
