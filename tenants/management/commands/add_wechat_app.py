from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.crypto import mask
from core.errors import ApplicationError
from tenants.models import Brand, WeChatApp
from tenants.services import wechat_app_add


class Command(BaseCommand):
    help = "Register a brand's WeChat mini-program or official account (secrets are stored encrypted)."

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True, help="brand slug")
        parser.add_argument("--appid", required=True)
        parser.add_argument("--secret", required=True)
        parser.add_argument("--token", required=True)
        parser.add_argument("--aes-key", default="")
        parser.add_argument("--kind", default=WeChatApp.Kind.MINIPROGRAM, choices=WeChatApp.Kind.values)
        parser.add_argument("--name", default="")
        parser.add_argument("--mch-id", default="")
        parser.add_argument("--mch-key", default="")
        parser.add_argument("--mch-cert-file", help="apiclient_cert.pem (WeChat Pay refunds)")
        parser.add_argument("--mch-cert-key-file", help="apiclient_key.pem")
        parser.add_argument("--pay-sign-type", default=WeChatApp.PaySignType.MD5, choices=WeChatApp.PaySignType.values)

    def handle(self, *args, **o):
        brand = Brand.objects.filter(slug=o["brand"]).exclude(schema_name="public").first()
        if brand is None:
            raise CommandError(f"no brand with slug {o['brand']}")
        pems = {}
        for option, field in (("mch_cert_file", "mch_cert_pem"), ("mch_cert_key_file", "mch_cert_key_pem")):
            if o.get(option):
                try:
                    with open(o[option], encoding="ascii") as handle:
                        pems[field] = handle.read()
                except OSError as exc:
                    raise CommandError(f"cannot read {o[option]}: {exc}") from exc
        try:
            app = wechat_app_add(
                brand=brand,
                appid=o["appid"],
                secret=o["secret"],
                token=o["token"],
                aes_key=o["aes_key"],
                kind=o["kind"],
                name=o["name"],
                mch_id=o["mch_id"],
                mch_key=o["mch_key"],
                pay_sign_type=o["pay_sign_type"],
                **pems,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(self.style.SUCCESS(f"{app.appid} registered for {brand.slug} (secret {mask(app.secret)})"))
